"""The models a worker runs right now, and how candidates are loaded beside them.

The frame agent takes one :class:`Snapshot` per batch and uses it for the whole batch; a swap
builds a new snapshot and replaces the reference. A loaded model object is never mutated (a
candidate is always a fresh ``FieldDetector``), so a batch in flight keeps a consistent model
and the next batch sees the new one: swaps happen between batches, never inside one.

Loading, warming and scoring are blocking (torch); :class:`ModelRegistry`'s ``load_*`` helpers
run them in a worker thread so the event loop keeps heartbeating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.core.config import Config, DetectorSettings
from engine.detection.dataset import LabelledFrame
from engine.detection.field_detector import FieldDetector
from streams.monitoring import worker_metrics as metrics
from streams.worker.readiness import Readiness
from streams.worker.translator import LoadedRules

DETECTOR = "field_detector"
RULES = "translation_rules"


@dataclass(frozen=True)
class Active:
    """A loaded artifact and where it came from (mirrors the Redis pointer)."""

    model: Any
    version: str
    sha256: str
    path: str
    command_id: str


@dataclass(frozen=True)
class Snapshot:
    """Everything one batch runs with: the detector and the rule set per pair."""

    detector: Active | None = None
    rules: MappingProxyType[str, Active] = field(default_factory=lambda: MappingProxyType({}))

    def rules_for(self, pair: str) -> LoadedRules | None:
        """Rule set of ``pair`` (``src->dst``), if one is active."""
        active = self.rules.get(pair)
        return active.model if active is not None else None


class ModelRegistry:
    """Holds the current :class:`Snapshot`; swaps are one reference assignment.

    Args:
        max_frame_bytes: Size cap given to every loaded detector (matches the stream's cap).
    """

    def __init__(self, max_frame_bytes: int = 64 * 1024) -> None:
        self._snapshot = Snapshot()
        self._max_frame_bytes = max_frame_bytes
        self.detector_ready = asyncio.Event()
        #: Detector active and the configured routes' rules reconciled: frames may be taken.
        self.readiness = Readiness()

    def snapshot(self) -> Snapshot:
        """The models to use for the next batch."""
        return self._snapshot

    def current(self, component: str, pair: str | None = None) -> Active | None:
        """The active artifact of a component (and pair, for rules)."""
        if component == DETECTOR:
            return self._snapshot.detector
        return self._snapshot.rules.get(pair or "")

    def activate(self, component: str, pair: str | None, active: Active) -> None:
        """Make ``active`` the model later batches use (the batch in flight keeps its own)."""
        old = self.current(component, pair)
        if component == DETECTOR:
            self._snapshot = replace(self._snapshot, detector=active)
            self.detector_ready.set()
            self.readiness.detector_active()
        else:
            rules = dict(self._snapshot.rules)
            rules[pair or ""] = active
            self._snapshot = replace(self._snapshot, rules=MappingProxyType(rules))
        label = component if pair is None else f"{component}:{pair}"
        metrics.set_active_version(label, old.version if old else None, active.version)

    async def load_detector(self, path: Path, expected_sha256: str | None = None) -> FieldDetector:
        """A fresh detector with ``path`` loaded (checksum checked by the engine), off-loop.

        Args:
            path: The checkpoint.
            expected_sha256: The digest the caller verified: the engine hashes the bytes it
                reads once and loads those very bytes only if they match.

        Raises:
            engine.errors.CheckpointError: The checkpoint was refused.
        """
        settings = DetectorSettings(max_message_bytes=self._max_frame_bytes)
        detector = FieldDetector(Config(detector=settings))
        # load_checkpoint is async only for the guide's sake; its work is blocking torch I/O.
        load = detector.load_checkpoint(path, expected_sha256=expected_sha256)
        await asyncio.to_thread(asyncio.run, load)
        return detector


def warm_detector(detector: FieldDetector, frames: Sequence[bytes]) -> int:
    """Run ``frames`` through ``detector`` once (blocking); returns the number of fields found.

    Raises:
        Exception: Whatever inference raises — a model that cannot run is not swapped in.
    """
    results = detector.detect_boundaries_batch(list(frames))
    if len(results) != len(frames):
        raise RuntimeError(f"detector returned {len(results)} results for {len(frames)} frames")
    return sum(len(r) for r in results)


def score_detector(detector: FieldDetector, labelled: Sequence[LabelledFrame]) -> float:
    """Field F1 of ``detector`` on a labelled set (blocking)."""
    return float(detector.evaluate(list(labelled))["f1"])
