"""Drills: a hot swap and rollback under load against a running fleet, and the probe load.

:mod:`.probe` produces numbered frames and counts their outcomes (also the load of the
reliability tests); :mod:`.runner` issues the commands and watches the events; :mod:`.report`
judges that nothing was lost and every worker applied every command in order.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "DrillConfig": "runner",
    "DrillError": "runner",
    "DrillReport": "report",
    "OutcomeCounter": "probe",
    "Probe": "probe",
    "ProbeFrames": "probe",
    "ProbeLoad": "probe",
    "run_drill": "runner",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
