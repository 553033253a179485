"""Monitoring maths: metrics collection, field accuracy and degradation thresholds."""
