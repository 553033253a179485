"""Prometheus metric definitions of the stream layer, in one place.

Names follow ARCHITECTURE.md (base units, ``_total`` counters); the Grafana dashboard queries
exactly these. Metrics live in the default registry so one ``start_http_server`` exposes them.
Label values are bounded sets (outcomes, reasons, versions), never frame ids.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

FRAMES: Final = Counter(
    "cronos_frames_total",
    "Frames handled, by outcome (result, dead_letter).",
    ["outcome"],
)
DEAD_LETTERS: Final = Counter(
    "cronos_dead_letters_total",
    "Frames sent to the dead-letter topic, by machine-readable reason.",
    ["reason"],
)
DETECTION_LATENCY: Final = Histogram(
    "cronos_detection_latency_seconds",
    "Wall time of one batched field-detection call.",
    ["model_version"],
    buckets=_LATENCY_BUCKETS,
)
TRANSLATION_LATENCY: Final = Histogram(
    "cronos_translation_latency_seconds",
    "Wall time of translating one frame.",
    ["pair", "rules_version"],
    buckets=_LATENCY_BUCKETS,
)
ACTIVE_VERSION: Final = Gauge(
    "cronos_active_version_info",
    "1 for the version a component runs on this worker, 0 for versions it ran before.",
    ["component", "version"],
)
MODEL_SWAPS: Final = Counter(
    "cronos_model_swaps_total",
    "Control commands handled, by component, action and outcome (applied, rejected).",
    ["component", "action", "outcome"],
)
BATCH_FRAMES: Final = Histogram(
    "cronos_batch_frames",
    "Frames per processed batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)


def set_active_version(component: str, old: str | None, new: str) -> None:
    """Point ``cronos_active_version_info`` at ``new`` (and zero ``old``)."""
    if old is not None and old != new:
        ACTIVE_VERSION.labels(component=component, version=old).set(0)
    ACTIVE_VERSION.labels(component=component, version=new).set(1)
