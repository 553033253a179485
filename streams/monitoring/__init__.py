"""Monitoring: Prometheus metrics, Redis metric windows, monitors, shadow runs, status page.

:mod:`.worker_metrics` defines every Prometheus series of the worker; :mod:`.windows` keeps the
shared per-version time buckets in Redis; :mod:`.recorder` feeds them from each batch;
:mod:`.monitor` checks them against thresholds (and triggers automatic rollback);
:mod:`.shadow` and :mod:`.validation_job` score candidates; :mod:`.tasks` wires them into the app.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "monitor": ("Check", "Monitor"),
    "recorder": ("Recorder",),
    "settings": ("MonitorSettings",),
    "shadow": ("ShadowEvaluator",),
    "status_page": ("StatusSource", "build_app", "serve"),
    "tasks": ("Monitoring", "register_monitoring"),
    "validation_job": ("ValidationJob", "ValidationResult"),
    "windows": ("Figures", "MetricWindows"),
    "worker_metrics": ("set_active_version",),
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
