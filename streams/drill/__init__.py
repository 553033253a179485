"""Drills: a hot swap and rollback under load against a running fleet, and the probe load.

:mod:`.probe` produces numbered frames and counts their outcomes (also the load of the
reliability tests); :mod:`.runner` issues the commands and watches the events; :mod:`.report`
judges that nothing was lost and every worker applied every command in order.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "probe": ("OutcomeCounter", "Probe", "ProbeFrames", "ProbeLoad"),
    "report": ("DrillReport",),
    "runner": ("DrillConfig", "DrillError", "run_drill"),
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
