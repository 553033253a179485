"""Monitoring: Prometheus metrics, Redis metric windows, monitors, shadow runs, status page.

:mod:`.worker_metrics` defines every Prometheus series of the worker; :mod:`.windows` keeps the
shared per-version time buckets in Redis; :mod:`.recorder` feeds them from each batch;
:mod:`.monitor` checks them against thresholds (and triggers automatic rollback);
:mod:`.shadow` and :mod:`.validation_job` score candidates; :mod:`.tasks` wires them into the app.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "Check": "monitor",
    "Figures": "windows",
    "MetricWindows": "windows",
    "Monitor": "monitor",
    "MonitorSettings": "settings",
    "Monitoring": "tasks",
    "Recorder": "recorder",
    "ShadowEvaluator": "shadow",
    "StatusSource": "status_page",
    "ValidationJob": "validation_job",
    "ValidationResult": "validation_job",
    "build_app": "status_page",
    "register_monitoring": "tasks",
    "serve": "status_page",
    "set_active_version": "worker_metrics",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
