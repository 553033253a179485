"""Monitoring maths: metrics collection, field accuracy and degradation thresholds."""

from engine.monitoring.metrics import MetricsCollector
from engine.monitoring.thresholds import Thresholds

__all__ = ["MetricsCollector", "Thresholds"]
