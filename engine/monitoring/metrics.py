"""In-memory metrics maths: the guide's ``MetricsCollector`` (no Redis, no Kafka, no loop).

It aggregates latencies, accuracies, confidences and outcomes per component and version,
computes averages and percentiles, and checks them against :class:`Thresholds`::

    collector = MetricsCollector()
    collector.record_latency("field_detector", 3.2, version="1.0.0")
    collector.record_accuracy("field_detector", 0.97, version="1.0.0")
    collector.check("field_detector", "1.0.0")   # [] while within the guide's limits

The streaming worker keeps its shared, time-bucketed figures in Redis
(``streams.monitoring.windows``); this class is the same maths for one process, a
notebook or a test.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.monitoring.thresholds import (
    DETECTOR,
    Breach,
    Thresholds,
    detector_breaches,
    translation_breaches,
)

__all__ = ["Breach", "MetricsCollector", "Summary", "Thresholds", "percentile"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) by linear interpolation; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    lo, hi = math.floor(rank), math.ceil(rank)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


@dataclass
class _Series:
    """Running sums plus a bounded sample for percentiles."""

    sample: deque[float]
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1
        self.sample.append(value)


@dataclass
class _Stats:
    latency: _Series
    accuracy: _Series
    confidence: _Series
    ok: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Summary:
    """Figures of one component/version; ``None`` where nothing was recorded."""

    component: str
    version: str
    count: int
    avg_latency_ms: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    avg_accuracy: float | None
    avg_confidence: float | None
    success_rate: float | None
    breaches: list[Breach] = field(default_factory=list)


class MetricsCollector:
    """Collects figures per ``(component, version)`` and checks them against thresholds.

    Args:
        thresholds: Degradation limits (the guide's by default).
        sample_size: Latest values kept per series for percentiles (sums cover everything).
    """

    def __init__(self, thresholds: Thresholds | None = None, sample_size: int = 10_000) -> None:
        self.thresholds = thresholds or Thresholds()
        self._sample_size = sample_size
        self._stats: dict[tuple[str, str], _Stats] = {}

    def _get(self, component: str, version: str) -> _Stats:
        key = (component, version)
        stats = self._stats.get(key)
        if stats is None:
            n = self._sample_size
            stats = _Stats(
                _Series(deque(maxlen=n)), _Series(deque(maxlen=n)), _Series(deque(maxlen=n))
            )
            self._stats[key] = stats
        return stats

    def record_latency(self, component: str, latency_ms: float, version: str = "") -> None:
        """Record one operation's latency in milliseconds."""
        self._get(component, version).latency.add(float(latency_ms))

    def record_latencies(self, component: str, values: Iterable[float], version: str = "") -> None:
        """Record many latencies (milliseconds) at once."""
        series = self._get(component, version).latency
        for v in values:
            series.add(float(v))

    def record_accuracy(self, component: str, accuracy: float, version: str = "") -> None:
        """Record one accuracy figure in [0, 1] (e.g. per validated frame)."""
        self._get(component, version).accuracy.add(float(accuracy))

    def record_confidence(self, component: str, confidence: float, version: str = "") -> None:
        """Record one model confidence in [0, 1]."""
        self._get(component, version).confidence.add(float(confidence))

    def record_outcome(self, component: str, ok: bool, version: str = "") -> None:
        """Count one operation as succeeded or failed (for the success rate)."""
        stats = self._get(component, version)
        if ok:
            stats.ok += 1
        else:
            stats.failed += 1

    def versions(self, component: str) -> list[str]:
        """Versions of ``component`` with recorded figures."""
        return sorted(v for c, v in self._stats if c == component)

    def summary(self, component: str, version: str = "") -> Summary:
        """Averages, latency percentiles, success rate and breaches of one component/version."""
        s = self._get(component, version)
        lat = list(s.latency.sample)
        done = s.ok + s.failed
        summary = Summary(
            component=component,
            version=version,
            count=max(s.latency.count, done),
            avg_latency_ms=_mean(s.latency.total, s.latency.count),
            p50_latency_ms=percentile(lat, 50),
            p95_latency_ms=percentile(lat, 95),
            p99_latency_ms=percentile(lat, 99),
            avg_accuracy=_mean(s.accuracy.total, s.accuracy.count),
            avg_confidence=_mean(s.confidence.total, s.confidence.count),
            success_rate=s.ok / done if done else None,
        )
        summary.breaches.extend(self._breaches(summary))
        return summary

    def check(self, component: str, version: str = "") -> list[Breach]:
        """Thresholds crossed by ``component``/``version`` (empty when healthy)."""
        return self.summary(component, version).breaches

    def is_healthy(self, component: str, version: str = "") -> bool:
        """``True`` unless a threshold is crossed."""
        return not self.check(component, version)

    def _breaches(self, s: Summary) -> list[Breach]:
        if s.component == DETECTOR:
            return detector_breaches(self.thresholds, s.avg_latency_ms, s.avg_accuracy)
        return translation_breaches(self.thresholds, s.success_rate, s.avg_latency_ms)

    def reset(self, component: str | None = None) -> None:
        """Forget the figures of one component, or of all."""
        for key in [k for k in self._stats if component is None or k[0] == component]:
            del self._stats[key]
