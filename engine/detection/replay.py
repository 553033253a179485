"""Bounded replay memory for incremental training.

A uniform reservoir sample over every frame seen by earlier training batches: memory stays at
``capacity`` frames however many batches arrive, and each earlier frame has the same chance to be
kept, so no early protocol is crowded out by later ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from engine.detection.dataset import LabelledFrame


class ReplayBuffer:
    """Reservoir sample of at most ``capacity`` labelled frames."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.capacity = capacity
        self._items: list[LabelledFrame] = []
        self._seen = 0
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self._items)

    def extend(self, frames: Iterable[LabelledFrame]) -> None:
        """Offer frames to the reservoir (Algorithm R)."""
        for f in frames:
            self._seen += 1
            if len(self._items) < self.capacity:
                self._items.append(f)
            else:
                j = self._rng.randrange(self._seen)
                if j < self.capacity:
                    self._items[j] = f

    def sample(self) -> list[LabelledFrame]:
        """A copy of the current reservoir."""
        return list(self._items)
