"""Prometheus metric definitions of the stream layer, in one place.

Names follow docs/architecture.md (base units, ``_total`` counters); the Grafana dashboard queries
exactly these. Metrics live in the default registry so one ``start_http_server`` exposes them.
Label values are bounded sets (outcomes, reasons, versions), never frame ids.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from streams.buckets import BATCH_SIZE_BUCKETS, CONFIDENCE_BUCKETS, LATENCY_BUCKETS_S

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
    buckets=LATENCY_BUCKETS_S,
)
TRANSLATION_LATENCY: Final = Histogram(
    "cronos_translation_latency_seconds",
    "Wall time of translating one frame.",
    ["pair", "rules_version"],
    buckets=LATENCY_BUCKETS_S,
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
    buckets=BATCH_SIZE_BUCKETS,
)


def set_active_version(component: str, old: str | None, new: str) -> None:
    """Point ``cronos_active_version_info`` at ``new`` (and zero ``old``)."""
    if old is not None and old != new:
        ACTIVE_VERSION.labels(component=component, version=old).set(0)
    ACTIVE_VERSION.labels(component=component, version=new).set(1)


# Monitoring (streams.monitoring: monitor, validation_job, shadow) and consumer lag.
DETECTOR_CONFIDENCE: Final = Histogram(
    "cronos_detector_confidence",
    "Mean field confidence of the frames of one batch (observed once per batch).",
    ["model_version"],
    buckets=CONFIDENCE_BUCKETS,
)
VALIDATION_ACCURACY: Final = Gauge(
    "cronos_validation_accuracy",
    "Mean field accuracy (span F1) of the last scheduled validation run.",
    ["component", "version"],
)
VALIDATION_PASS_RATE: Final = Gauge(
    "cronos_validation_pass_rate",
    "Share of validation frames at or above the accuracy threshold in the last run.",
    ["component", "version"],
)
VALIDATION_RUNS: Final = Counter(
    "cronos_validation_runs_total",
    "Scheduled validation runs, by outcome (pass, fail, error).",
    ["component", "version", "outcome"],
)
CONSUMER_LAG: Final = Gauge(
    "cronos_consumer_lag",
    "Messages between the last processed offset and the high watermark, per partition.",
    ["topic", "partition"],
)
MONITOR_BREACHES: Final = Counter(
    "cronos_monitor_breaches_total",
    "Monitor checks that found the active version over a threshold, by metric.",
    ["component", "version", "metric"],
)
AUTO_ROLLBACKS: Final = Counter(
    "cronos_auto_rollbacks_total",
    "emergency_rollback commands issued by this worker's monitor.",
    ["component", "from_version", "to_version"],
)
SHADOW_FRAMES: Final = Counter(
    "cronos_shadow_frames_total",
    "Live frames also run through the shadow candidate.",
    ["component", "version"],
)
SHADOW_AGREEMENT: Final = Gauge(
    "cronos_shadow_agreement",
    "Mean span agreement of the shadow candidate with the active model (last sample batch).",
    ["component", "version"],
)


PUBLISH_STALLS: Final = Counter(
    "cronos_publish_stalls_total",
    "Batches whose records the broker had not acknowledged within the stall threshold "
    "(a broker outage or overload; the worker keeps waiting and retrying).",
)
PUBLISH_STALLED: Final = Gauge(
    "cronos_publish_stalled",
    "1 while the current batch has waited on broker acknowledgements past the stall threshold.",
)
OVERSIZED_OUTPUTS: Final = Counter(
    "cronos_oversized_outputs_total",
    "Outputs over the record cap, by kind: result or translated (the frame was dead-lettered), "
    "dead_letter (cut to a stub), refused (the broker refused it for size; stub sent).",
    ["kind"],
)
RECORDS_DROPPED: Final = Counter(
    "cronos_records_dropped_total",
    "Records given up: refused for size even as a stub (never retried), by reason.",
    ["reason"],
)
DETECTOR_CACHE_LOOKUPS: Final = Counter(
    "cronos_detector_cache_lookups_total",
    "Result-cache lookups of the active detector, by result (hit, miss); the hit rate is "
    "rate(hit) / rate(hit + miss).",
    ["model_version", "result"],
)
DETECTOR_CACHE_ENTRIES: Final = Gauge(
    "cronos_detector_cache_entries",
    "Frames held in the active detector's result cache.",
    ["model_version"],
)
