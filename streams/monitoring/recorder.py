"""Per-batch recording: Redis metric windows, the confidence histogram, recent dead letters.

The processor calls :meth:`Recorder.record` once per batch with its
:class:`~streams.worker.batch_report.BatchReport`; everything goes to Redis in one MULTI. A Redis
outage costs figures, never frames: errors are logged (at most once a minute) and swallowed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from engine.monitoring.thresholds import DETECTOR, TRANSLATION
from streams.monitoring import worker_metrics as metrics
from streams.monitoring.windows import Figures, MetricWindows
from streams.worker.batch_report import BatchReport

log = logging.getLogger(__name__)


def rules_component(pair: str) -> str:
    """Window component name of a rule set (``translation_rules:{pair}``)."""
    return f"{TRANSLATION}:{pair}"


class Recorder:
    """Writes batch figures to the windows and hands samples to the shadow evaluator.

    Args:
        windows: Redis metric windows.
        shadow: Object with ``offer(report)`` (a
                :class:`~streams.monitoring.shadow.ShadowEvaluator`).
        timeout_s: Longest wait for the Redis write; the batch is not held longer.
    """

    def __init__(self, windows: MetricWindows, shadow: Any = None, timeout_s: float = 2.0):
        self.windows = windows
        self.shadow = shadow
        self.timeout_s = timeout_s
        #: ``(unix time, reason, stage, detail, frame id)`` of the latest dead letters.
        self.dead_letters: deque[tuple[float, str, str, str, str]] = deque(maxlen=50)
        self._last_warning = 0.0

    async def record(self, report: BatchReport) -> None:
        """Record one batch (never raises)."""
        now = time.time()
        for item in report.dead_letters:
            self.dead_letters.append((now, *item))
        items: list[tuple[str, str, Figures]] = []
        if report.detector_version is not None and report.detector.count:
            items.append((DETECTOR, report.detector_version, report.detector))
            mean = report.detector.avg_confidence()
            if mean is not None:
                metrics.DETECTOR_CONFIDENCE.labels(report.detector_version).observe(mean)
        for (pair, version), figs in report.rules.items():
            items.append((rules_component(pair), version, figs))
        if self.shadow is not None:
            self.shadow.offer(report)
        if not items:
            return
        try:
            await asyncio.wait_for(self.windows.record(items, now), self.timeout_s)
        except Exception as exc:
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning("metric windows not written: %r", exc)
