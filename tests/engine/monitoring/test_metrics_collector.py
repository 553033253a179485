"""MetricsCollector maths, thresholds and field accuracy (pure Python)."""

from __future__ import annotations

import pytest

from engine.detection.boundary import FieldBoundary
from engine.monitoring.accuracy import calculate_field_accuracy
from engine.monitoring.metrics import MetricsCollector, Thresholds, percentile
from engine.monitoring.thresholds import detector_breaches, translation_breaches


def test_guide_defaults() -> None:
    t = Thresholds()
    assert (t.detector_max_latency_ms, t.detector_min_accuracy) == (10.0, 0.90)
    assert (t.translation_min_success_rate, t.translation_max_latency_ms) == (0.95, 5.0)


def test_percentiles_and_averages() -> None:
    c = MetricsCollector()
    c.record_latencies("field_detector", [1, 2, 3, 4, 100], version="1.0.0")
    for acc in (1.0, 0.8):
        c.record_accuracy("field_detector", acc, version="1.0.0")
    c.record_confidence("field_detector", 0.5, version="1.0.0")
    s = c.summary("field_detector", "1.0.0")
    assert s.count == 5 and s.avg_latency_ms == pytest.approx(22.0)
    assert s.p50_latency_ms == 3 and s.p99_latency_ms == pytest.approx(96.16)
    assert s.avg_accuracy == pytest.approx(0.9) and s.avg_confidence == 0.5
    assert [b.metric for b in s.breaches] == ["avg_latency_ms"]
    assert percentile([], 50) is None
    assert c.versions("field_detector") == ["1.0.0"]


def test_detector_accuracy_breach_and_healthy() -> None:
    c = MetricsCollector()
    c.record_latency("field_detector", 2.0, "1.1.0")
    c.record_accuracy("field_detector", 0.5, "1.1.0")
    (breach,) = c.check("field_detector", "1.1.0")
    assert breach.metric == "accuracy" and breach.describe() == "accuracy 0.5000 < 0.9"
    c.record_latency("field_detector", 2.0, "1.0.0")
    c.record_accuracy("field_detector", 0.95, "1.0.0")
    assert c.is_healthy("field_detector", "1.0.0")
    c.reset("field_detector")
    assert c.versions("field_detector") == []


def test_translation_thresholds_configurable() -> None:
    c = MetricsCollector(Thresholds(translation_min_success_rate=0.5))
    for ok in (True, True, False):
        c.record_outcome("translation_rules", ok, "1.0.0")
    c.record_latency("translation_rules", 0.1, "1.0.0")
    assert c.check("translation_rules", "1.0.0") == []
    assert [b.metric for b in MetricsCollector().check("translation_rules", "1.0.0")] == []
    assert translation_breaches(Thresholds(), 0.9, 6.0)[1].metric == "avg_latency_ms"
    assert detector_breaches(Thresholds(), None, None) == []


def test_field_accuracy_forms() -> None:
    want = [(0, 2, "transaction_id"), (2, 4, "protocol_id"), (4, 6, "length")]
    got = [
        FieldBoundary(0, 2, "transaction_id", 0.9),
        FieldBoundary(2, 4, "protocol_id", 0.9),
        FieldBoundary(4, 6, "unknown", 0.2),
    ]
    assert calculate_field_accuracy(got, want) == pytest.approx(0.8)
    assert calculate_field_accuracy([{"start": 0, "end": 2, "type": "x"}], [(0, 2, "x")]) == 1.0
    assert calculate_field_accuracy([], []) == 1.0
    assert calculate_field_accuracy([(0, 1, "a")], [(0, 2, "a")]) == 0.0
