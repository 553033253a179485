"""Shadow evaluation: a candidate detector runs beside the active one on a sample of live frames.

Per batch, a ``shadow_sample_rate`` share of the detected frames is also run through the
candidate (and, for a fair latency figure, timed through the active model on the same sample),
in a background task so the batch is never held. The candidate's figures go to the window
``shadow:field_detector`` / its version (count, latency, confidence, agreement with the active
model's fields); the active model's figures on the same sample go to
``shadow_baseline:field_detector`` / the candidate's version. :func:`shadow_verdict` compares
the two, and ``promote`` of a candidate that did worse is refused.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

from engine.detection.boundary import FieldBoundary
from engine.detection.field_detector import FieldDetector
from engine.monitoring.accuracy import agreement
from engine.monitoring.thresholds import DETECTOR
from streams.control.artifact_root import ArtifactRoot
from streams.monitoring import worker_metrics as metrics
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.windows import Figures, MetricWindows
from streams.worker.batch_report import BatchReport
from streams.worker.registry import ModelRegistry

log = logging.getLogger(__name__)
SHADOW = f"shadow:{DETECTOR}"
BASELINE = f"shadow_baseline:{DETECTOR}"


def _confidence(fields: list[FieldBoundary], figs: Figures) -> None:
    if fields:
        figs.confidence += sum(f.confidence for f in fields) / len(fields)
        figs.confidence_n += 1


def compare(
    active: FieldDetector,
    candidate: FieldDetector,
    frames: Sequence[bytes],
    found: Sequence[list[FieldBoundary]],
) -> tuple[Figures, Figures]:
    """Run ``frames`` through both models (blocking); (candidate, baseline) figures."""
    t0 = time.perf_counter()
    theirs = candidate.detect_boundaries_batch(list(frames))
    t1 = time.perf_counter()
    active.detect_boundaries_batch(list(frames))  # timing only: same sample, same moment
    t2 = time.perf_counter()
    n = len(frames)
    cand, base = Figures(count=n), Figures(count=n)
    cand.add_latency((t1 - t0) * 1000.0 / n, n)
    base.add_latency((t2 - t1) * 1000.0 / n, n)
    for ours, other in zip(found, theirs, strict=True):
        _confidence(other, cand)
        _confidence(ours, base)
        cand.agreement += agreement(other, ours)
        cand.agreement_n += 1
    return cand, base


class ShadowEvaluator:
    """Loads the candidate and evaluates it on sampled batches.

    Args:
        version: Candidate detector version.
        root: Artifact root (the candidate's sha256 is checked).
        registry: The active models (and the loader).
        windows: Where figures go.
        settings: Sample rate.
    """

    def __init__(
        self,
        version: str,
        root: ArtifactRoot,
        registry: ModelRegistry,
        windows: MetricWindows,
        settings: MonitorSettings,
    ) -> None:
        self.version = version
        self.root = root
        self.registry = registry
        self.windows = windows
        self.rate = settings.shadow_sample_rate
        self.candidate: FieldDetector | None = None
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random()

    async def start(self) -> None:
        """Resolve, verify and load the candidate (raises if it cannot)."""
        path, _ = await asyncio.to_thread(self.root.resolve_verified, DETECTOR, self.version)
        self.candidate = await self.registry.load_detector(path)
        log.info("shadow candidate %s loaded from %s", self.version, path.name)

    def offer(self, report: BatchReport) -> None:
        """Sample a batch; evaluation runs in the background, one at a time (else skipped)."""
        active = self.registry.current(DETECTOR)
        if self.candidate is None or active is None or active.version == self.version:
            return
        if self._task is not None and not self._task.done():
            return  # still busy with an earlier sample: shed load rather than queue it
        picked = [i for i in range(len(report.frames)) if self._rng.random() < self.rate]
        if not picked:
            return
        frames = [report.frames[i] for i in picked]
        found = [report.found[i] for i in picked]
        self._task = asyncio.create_task(self._evaluate(active.model, frames, found))

    async def _evaluate(
        self, active: FieldDetector, frames: list[bytes], found: list[list[FieldBoundary]]
    ) -> None:
        assert self.candidate is not None
        try:
            cand, base = await asyncio.to_thread(compare, active, self.candidate, frames, found)
            await self.windows.record(
                [(SHADOW, self.version, cand), (BASELINE, self.version, base)]
            )
        except Exception as exc:
            log.warning("shadow evaluation failed: %r", exc)
            return
        metrics.SHADOW_FRAMES.labels(DETECTOR, self.version).inc(len(frames))
        mean = cand.avg_agreement()
        if mean is not None:
            metrics.SHADOW_AGREEMENT.labels(DETECTOR, self.version).set(mean)

    async def stop(self) -> None:
        """Wait for a running evaluation to end."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def shadow_verdict(
    windows: MetricWindows,
    settings: MonitorSettings,
    component: str,
    version: str,
    window_s: float = 3600,
) -> str | None:
    """Why ``version`` did worse than the active model in shadow, or ``None`` if it did not.

    Without enough shadow samples (``min_samples``) there is no verdict.
    """
    if component != DETECTOR:
        return None
    cand, base = await windows.read_many([(SHADOW, version), (BASELINE, version)], window_s)
    if cand.count < settings.min_samples:
        return None
    why = []
    c_conf, b_conf = cand.avg_confidence(), base.avg_confidence()
    drop = settings.shadow_max_confidence_drop
    if c_conf is not None and b_conf is not None and c_conf < b_conf - drop:
        why.append(f"confidence {c_conf:.4f} < active {b_conf:.4f}")
    c_lat, b_lat = cand.avg_latency_ms(), base.avg_latency_ms()
    ratio = settings.shadow_max_latency_ratio
    if c_lat is not None and b_lat is not None and c_lat > b_lat * ratio:
        why.append(f"latency {c_lat:.3f} ms > {ratio:g}x active {b_lat:.3f} ms")
    if not why:
        return None
    agree = cand.avg_agreement()
    tail = f" (n={cand.count}, agreement {agree:.4f})" if agree is not None else ""
    return "; ".join(why) + tail
