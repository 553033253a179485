"""What one processed batch tells the monitors, gathered by the processor at batch granularity.

:class:`~streams.worker.processor.BatchProcessor` fills a :class:`BatchReport` while it processes a
batch (a few additions per frame, no I/O) and hands it to its ``on_batch`` hook, which writes the
windows with one Redis round trip (:mod:`streams.monitoring.recorder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.detection.boundary import FieldBoundary
from streams.monitoring.windows import Figures
from streams.worker.deadletter import DeadLetter


@dataclass
class BatchReport:
    """Figures of one batch.

    Attributes:
        detector_version: Version the batch ran on (``None`` before any detection).
        detector: Detector figures (count, errors, latency per frame, confidence).
        rules: Per ``(pair, rules_version)``: translation figures.
        frames: The frames detected (for shadow sampling) and what the active model found.
        dead_letters: ``(reason, stage, detail, frame id)`` of the batch's dead letters.
    """

    detector_version: str | None = None
    detector: Figures = field(default_factory=Figures)
    rules: dict[tuple[str, str], Figures] = field(default_factory=dict)
    frames: list[bytes] = field(default_factory=list)
    found: list[list[FieldBoundary]] = field(default_factory=list)
    dead_letters: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add_detection(
        self, version: str, datas: Sequence[bytes], found: Sequence[object], seconds: float
    ) -> None:
        """Record a batched detection call: amortised latency, errors, mean confidences."""
        self.detector_version = version
        figs = self.detector
        n = len(datas)
        if not n:
            return
        figs.count += n
        figs.add_latency(seconds * 1000.0 / n, n)
        for data, item in zip(datas, found, strict=True):
            if isinstance(item, list):
                if item:
                    figs.confidence += sum(f.confidence for f in item) / len(item)
                    figs.confidence_n += 1
                self.frames.append(data)
                self.found.append(item)
            else:
                figs.errors += 1

    def add_translation(self, pair: str, version: str, seconds: float | None) -> None:
        """Record one translation; ``seconds`` ``None`` means it failed."""
        figs = self.rules.setdefault((pair, version), Figures())
        figs.count += 1
        if seconds is None:
            figs.errors += 1
        else:
            figs.add_latency(seconds * 1000.0)

    def add_dead_letter(self, dead: DeadLetter) -> None:
        """Keep a dead letter's reason, stage, detail (cut) and frame id for the status page."""
        raw_id = dead.frame.header("frame-id") or b""
        frame_id = raw_id.decode("utf-8", "replace")[:64]
        self.dead_letters.append((dead.reason, dead.stage, dead.detail[:200], frame_id))
