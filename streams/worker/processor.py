"""Batch processing without Kafka: frames in, one outcome per frame out.

Every frame ends as exactly one :class:`Outcome`: a serialised result (plus translated bytes
when a route applies) or a :class:`~streams.worker.deadletter.DeadLetter`. Nothing a frame
contains can make :meth:`BatchProcessor.process` raise, so one bad frame never stops the stream.
The whole
batch runs on the :class:`~streams.worker.registry.Snapshot` taken at its start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from engine.detection.boundary import FieldBoundary
from engine.detection.field_detector import FieldDetector
from engine.errors import InvalidInputError
from streams.monitoring import worker_metrics as metrics
from streams.worker.batch_report import BatchReport
from streams.worker.deadletter import DeadLetter
from streams.worker.registry import ModelRegistry, Snapshot
from streams.worker.results import (
    H_PROTOCOL,
    H_TARGET,
    Frame,
    ResultEncodeError,
    Translation,
    build_result,
    encode_result,
)
from streams.worker.settings import WorkerSettings
from streams.worker.translator import UntranslatableError, translate

log = logging.getLogger(__name__)
_NAME_RE = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to publish for one frame: ``result`` (+ ``translated``) or ``dead_letter``."""

    frame: Frame
    result: bytes | None = None
    translated: Translation | None = None
    dead_letter: DeadLetter | None = None


@dataclass(frozen=True, slots=True)
class _Routed:
    frame: Frame
    data: bytes
    protocol: str
    target: str | None


class BatchProcessor:
    """Turns a batch of frames into outcomes with the registry's current models.

    Args:
        registry: Where the active detector and rules come from.
        settings: Size caps, routes, default protocol.
    """

    def __init__(self, registry: ModelRegistry, settings: WorkerSettings) -> None:
        self._registry = registry
        self._settings = settings
        #: Recent good frames, used to warm candidates up before a swap.
        self.recent: deque[bytes] = deque(maxlen=settings.warmup_frames)
        #: Called with each batch's figures (monitor windows); must not raise.
        self.on_batch: Callable[[BatchReport], Awaitable[None]] | None = None
        #: id(detector) → (hits, misses) already exported.
        self._cache_seen: dict[int, tuple[int, int]] = {}

    async def process(self, frames: Sequence[Frame]) -> list[Outcome]:
        """Process one batch; outcomes come back in input order, one per frame."""
        start = time.perf_counter()
        snap = self._registry.snapshot()
        if snap.detector is None:
            raise RuntimeError("no active detector: the worker must reconcile before consuming")
        outcomes: list[Outcome | None] = [None] * len(frames)
        report = BatchReport()
        routed: list[tuple[int, _Routed]] = []
        for i, frame in enumerate(frames):
            checked = self._check(frame, snap.detector.model)
            if isinstance(checked, DeadLetter):
                outcomes[i] = Outcome(frame, dead_letter=checked)
            else:
                routed.append((i, checked))
        fields = await self._detect(snap, [r for _, r in routed], report)
        for (i, item), found in zip(routed, fields, strict=True):
            if isinstance(found, DeadLetter):
                outcomes[i] = Outcome(item.frame, dead_letter=found)
            else:
                outcomes[i] = await self._finish(snap, item, found, start, report)
        done = [o for o in outcomes if o is not None]
        for o in done:
            if o.dead_letter is not None:
                metrics.DEAD_LETTERS.labels(reason=o.dead_letter.reason).inc()
                report.add_dead_letter(o.dead_letter)
                metrics.FRAMES.labels(outcome="dead_letter").inc()
            else:
                metrics.FRAMES.labels(outcome="result").inc()
        metrics.BATCH_FRAMES.observe(len(frames))
        if self.on_batch is not None:
            await self.on_batch(report)
        return done

    def _check(self, frame: Frame, detector: FieldDetector) -> _Routed | DeadLetter:
        data = frame.value
        if not data:
            return DeadLetter(frame, "empty_frame", "frame has no bytes")
        # Headers count: they are copied onto the dead letter, and a frame's cost is all of it.
        size = len(data) + sum(len(k.encode()) + len(v) for k, v in frame.headers)
        if size > self._settings.max_frame_bytes:
            cap = self._settings.max_frame_bytes
            return DeadLetter(frame, "oversized_frame", f"{size} bytes with headers > {cap}")
        try:
            detector.check_message(data)
        except InvalidInputError as exc:
            return DeadLetter(frame, "invalid_frame", str(exc))
        try:
            protocol = _header(frame, H_PROTOCOL) or self._settings.default_protocol
            target = _header(frame, H_TARGET) or self._settings.routes.get(protocol)
        except ValueError as exc:  # UnicodeDecodeError included
            return DeadLetter(frame, "bad_header", f"protocol/target header: {exc}")
        return _Routed(frame, data, protocol, target)

    async def _detect(
        self, snap: Snapshot, items: list[_Routed], report: BatchReport
    ) -> list[list[FieldBoundary] | DeadLetter]:
        if not items:
            return []
        assert snap.detector is not None
        detector: FieldDetector = snap.detector.model
        datas = [item.data for item in items]
        t0 = time.perf_counter()
        try:
            # Off the event loop: a long batch must not starve group heartbeats.
            found: list[list[FieldBoundary] | DeadLetter] = list(
                await asyncio.to_thread(detector.detect_boundaries_batch, datas)
            )
        except Exception as exc:
            # One frame may poison the batched call; retry one by one to isolate it.
            log.warning("batched detection failed (%s); retrying frame by frame", exc)
            found = [await self._detect_one(detector, item) for item in items]
        elapsed = time.perf_counter() - t0
        metrics.DETECTION_LATENCY.labels(model_version=snap.detector.version).observe(elapsed)
        report.add_detection(snap.detector.version, datas, found, elapsed)
        self._export_cache(snap.detector.version, detector)
        self.recent.extend(datas[-self._settings.warmup_frames :])
        return found

    def _export_cache(self, version: str, detector: FieldDetector) -> None:
        """Move the detector's cumulative cache counters into Prometheus (by difference)."""
        stats = detector.cache_stats()
        last_hits, last_misses = self._cache_seen.get(id(detector), (0, 0))
        if stats.hits > last_hits:
            metrics.DETECTOR_CACHE_LOOKUPS.labels(version, "hit").inc(stats.hits - last_hits)
        if stats.misses > last_misses:
            metrics.DETECTOR_CACHE_LOOKUPS.labels(version, "miss").inc(stats.misses - last_misses)
        metrics.DETECTOR_CACHE_ENTRIES.labels(version).set(stats.size)
        # One entry per detector instance seen; a swap adds one (a handful per worker's life).
        if len(self._cache_seen) > 16:
            self._cache_seen.clear()
        self._cache_seen[id(detector)] = (stats.hits, stats.misses)

    @staticmethod
    async def _detect_one(
        detector: FieldDetector, item: _Routed
    ) -> list[FieldBoundary] | DeadLetter:
        try:
            return (await asyncio.to_thread(detector.detect_boundaries_batch, [item.data]))[0]
        except Exception as exc:
            return DeadLetter(item.frame, "detection_failed", f"{type(exc).__name__}: {exc}")

    async def _finish(
        self,
        snap: Snapshot,
        item: _Routed,
        fields: list[FieldBoundary],
        start: float,
        report: BatchReport,
    ) -> Outcome:
        translation = None
        if item.target is not None:
            pair = f"{item.protocol}->{item.target}"
            rules = snap.rules_for(pair)
            if rules is None:
                return Outcome(item.frame, dead_letter=DeadLetter(item.frame, "no_rules", pair))
            raw_direction = item.frame.header("direction")
            direction = raw_direction.decode("utf-8", "replace").strip() if raw_direction else ""
            if not direction or direction == rules.rules.source_spec.direction:
                t0 = time.perf_counter()
                try:
                    translation = translate(rules, item.data, item.frame.headers)
                except UntranslatableError as exc:
                    report.add_translation(pair, rules.version, None)
                    detail = f"{pair}: {exc.reason}: {exc.detail}"
                    return Outcome(
                        item.frame, dead_letter=DeadLetter(item.frame, "untranslatable", detail)
                    )
                took = time.perf_counter() - t0
                metrics.TRANSLATION_LATENCY.labels(pair=pair, rules_version=rules.version).observe(
                    took
                )
                report.add_translation(pair, rules.version, took)
            # else: a rule set for responses has nothing to say about requests (or the reverse);
            # the frame keeps its detection result with translation null, not a dead letter.
        assert snap.detector is not None
        latency_ms = (time.perf_counter() - start) * 1000.0
        result = build_result(
            item.frame, item.protocol, fields, snap.detector.version, translation, latency_ms
        )
        try:
            data = encode_result(result, self._settings.max_result_bytes)
        except ResultEncodeError as exc:
            dead = DeadLetter(item.frame, "serialisation_failed", str(exc))
            return Outcome(item.frame, dead_letter=dead)
        return Outcome(item.frame, result=data, translated=translation)


def _header(frame: Frame, name: str) -> str | None:
    raw = frame.header(name)
    if raw is None or not raw.strip():
        return None
    text = raw.decode("utf-8").strip()
    # Protocol names become topic names and Redis keys: only the safe alphabet passes.
    if not _NAME_RE.match(text):
        raise ValueError(f"{name} {text[:64]!r} is not a protocol name ([a-z0-9_]+)")
    return text
