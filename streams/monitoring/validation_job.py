"""Scheduled validation: the active detector scored on a labelled set, into windows and gauges.

The guide runs its validation suite hourly; so does this job by default
(``CRONOS_MONITOR_VALIDATION_INTERVAL_S``). It also runs as soon as the active version changes,
so a freshly swapped-in model is judged within one tick, not an hour later. Each run adds the
per-frame accuracies to the version's window (``accuracy``, ``accuracy_n``, ``passes``) — the
figure the monitor checks against ``detector_min_accuracy``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from engine.detection.dataset import LabelledFrame
from engine.detection.field_detector import FieldDetector
from engine.monitoring.accuracy import calculate_field_accuracy
from engine.monitoring.thresholds import DETECTOR
from streams.monitoring import worker_metrics as metrics
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.windows import Figures, MetricWindows
from streams.worker.registry import ModelRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationResult:
    """One run: version, mean accuracy, share of frames that passed, frames scored."""

    version: str
    accuracy: float
    pass_rate: float
    frames: int


def score_frames(detector: FieldDetector, frames: Sequence[LabelledFrame]) -> list[float]:
    """Per-frame field accuracy of ``detector`` (blocking; run it in a thread)."""
    found = detector.detect_boundaries_batch([f.message for f in frames])
    return [calculate_field_accuracy(d, f.spans) for d, f in zip(found, frames, strict=True)]


class ValidationJob:
    """Runs validation every ``validation_interval_s`` and whenever the version changes.

    Args:
        registry: Where the active detector comes from.
        windows: Where the accuracies go.
        frames: The labelled validation set.
        settings: Interval and the accuracy threshold (for the pass rate).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        windows: MetricWindows,
        frames: Sequence[LabelledFrame],
        settings: MonitorSettings,
    ) -> None:
        self.registry = registry
        self.windows = windows
        self.frames = list(frames)
        self.settings = settings
        self.last: ValidationResult | None = None

    async def validate_once(self) -> ValidationResult | None:
        """Score the active detector now; ``None`` when no detector is active."""
        active = self.registry.current(DETECTOR)
        if active is None or not self.frames:
            return None
        scores = await asyncio.to_thread(score_frames, active.model, self.frames)
        limit = self.settings.detector_min_accuracy
        passes = sum(1 for s in scores if s >= limit)
        figs = Figures(accuracy=sum(scores), accuracy_n=len(scores), passes=passes)
        await self.windows.record([(DETECTOR, active.version, figs)])
        result = ValidationResult(
            active.version, sum(scores) / len(scores), passes / len(scores), len(scores)
        )
        metrics.VALIDATION_ACCURACY.labels(DETECTOR, active.version).set(result.accuracy)
        metrics.VALIDATION_PASS_RATE.labels(DETECTOR, active.version).set(result.pass_rate)
        outcome = "pass" if result.accuracy >= limit else "fail"
        metrics.VALIDATION_RUNS.labels(DETECTOR, active.version, outcome).inc()
        log.info("validation of %s: accuracy %.4f (%s)", active.version, result.accuracy, outcome)
        self.last = result
        return result

    async def run(self) -> None:
        """Loop until cancelled; a failed run is logged and retried at the next due time."""
        await self.registry.detector_ready.wait()
        last_run, last_version = float("-inf"), None
        tick = min(1.0, self.settings.validation_interval_s)
        while True:
            active = self.registry.current(DETECTOR)
            version = active.version if active else None
            due = time.monotonic() - last_run >= self.settings.validation_interval_s
            if due or version != last_version:
                last_run, last_version = time.monotonic(), version
                try:
                    await self.validate_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    metrics.VALIDATION_RUNS.labels(DETECTOR, version or "none", "error").inc()
                    log.warning("validation failed: %r", exc)
            await asyncio.sleep(tick)
