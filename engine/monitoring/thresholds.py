"""Degradation thresholds of the operations guide, and how figures are checked against them.

The defaults are the guide's "Continuous Monitoring" figures: a field detector is degraded when
its average latency exceeds 10 ms or its accuracy falls below 0.90; translation when its success
rate falls below 0.95 or its average latency exceeds 5 ms. Every value is configurable.
"""

from __future__ import annotations

from dataclasses import dataclass

DETECTOR = "field_detector"
TRANSLATION = "translation_rules"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Limits beyond which a component counts as degraded.

    Attributes:
        detector_max_latency_ms: Highest acceptable average detection latency per frame.
        detector_min_accuracy: Lowest acceptable field accuracy on the validation set.
        translation_min_success_rate: Lowest acceptable share of frames translated.
        translation_max_latency_ms: Highest acceptable average translation latency per frame.
    """

    detector_max_latency_ms: float = 10.0
    detector_min_accuracy: float = 0.90
    translation_min_success_rate: float = 0.95
    translation_max_latency_ms: float = 5.0


@dataclass(frozen=True, slots=True)
class Breach:
    """One threshold crossed: which figure, its value and the limit it crossed."""

    metric: str
    value: float
    limit: float

    def describe(self) -> str:
        """Short human text, e.g. ``accuracy 0.4100 < 0.9``."""
        op = ">" if self.metric.endswith("latency_ms") else "<"
        return f"{self.metric} {self.value:.4f} {op} {self.limit:g}"


def detector_breaches(
    thresholds: Thresholds, avg_latency_ms: float | None, accuracy: float | None
) -> list[Breach]:
    """Breaches of a detector's figures; ``None`` means "not enough data" and never breaches."""
    out: list[Breach] = []
    if avg_latency_ms is not None and avg_latency_ms > thresholds.detector_max_latency_ms:
        out.append(Breach("avg_latency_ms", avg_latency_ms, thresholds.detector_max_latency_ms))
    if accuracy is not None and accuracy < thresholds.detector_min_accuracy:
        out.append(Breach("accuracy", accuracy, thresholds.detector_min_accuracy))
    return out


def translation_breaches(
    thresholds: Thresholds, success_rate: float | None, avg_latency_ms: float | None
) -> list[Breach]:
    """Breaches of a rule set's figures; ``None`` means "not enough data"."""
    out: list[Breach] = []
    if success_rate is not None and success_rate < thresholds.translation_min_success_rate:
        out.append(Breach("success_rate", success_rate, thresholds.translation_min_success_rate))
    if avg_latency_ms is not None and avg_latency_ms > thresholds.translation_max_latency_ms:
        out.append(Breach("avg_latency_ms", avg_latency_ms, thresholds.translation_max_latency_ms))
    return out
