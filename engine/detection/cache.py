"""LRU cache of detection results for exactly repeated frames.

Polling traffic repeats many frames byte for byte; a repeat is answered from the cache instead of
the network. One cache holds results of one model version only: every entry belongs to the
*token* (a fingerprint of the weights in use) it was computed with, and a new token empties the
cache. Entries are tuples of immutable :class:`FieldBoundary` named tuples; callers get fresh
lists, so nothing they do to a result can reach the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import NamedTuple

from engine.detection.boundary import FieldBoundary

Fields = tuple[FieldBoundary, ...]


class CacheStats(NamedTuple):
    """Counters of a :class:`ResultCache` (since it was made; clearing keeps them).

    Attributes:
        hits: Frames answered from the cache.
        misses: Cacheable frames looked up and not found (frames over the length cap are
            neither).
        size: Entries held now.
        capacity: Bound on entries (0: disabled).
        invalidations: Times the cache was emptied because the weights changed.
    """

    hits: int
    misses: int
    size: int
    capacity: int
    invalidations: int


class ResultCache:
    """Thread-safe LRU map ``frame bytes → fields`` bounded by entries and by frame length.

    Args:
        capacity: Most entries held; 0 disables the cache (every lookup misses, nothing is
            stored, nothing is counted).
        max_frame_bytes: Frames longer than this are never cached (nor counted).
    """

    def __init__(self, capacity: int, max_frame_bytes: int) -> None:
        self.capacity = capacity
        self.max_frame_bytes = max_frame_bytes
        self._entries: OrderedDict[bytes, Fields] = OrderedDict()
        self._lock = threading.Lock()
        self._token: Hashable = None
        self._hits = 0
        self._misses = 0
        self._invalidations = 0

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def cacheable(self, frame: bytes) -> bool:
        return self.capacity > 0 and len(frame) <= self.max_frame_bytes

    def clear(self) -> None:
        """Drop every entry (the weights changed)."""
        with self._lock:
            if self._entries:
                self._invalidations += 1
            self._entries.clear()

    def validate(self, token: Hashable) -> None:
        """Empty the cache unless its entries were computed under ``token``."""
        with self._lock:
            if token != self._token:
                if self._entries:
                    self._invalidations += 1
                self._entries.clear()
                self._token = token

    def get_many(self, frames: Sequence[bytes]) -> list[Fields | None]:
        """Cached fields per frame (``None``: not cached), refreshing the hits' recency."""
        if self.capacity <= 0:
            return [None] * len(frames)
        out: list[Fields | None] = []
        limit = self.max_frame_bytes
        with self._lock:
            entries = self._entries
            hits = misses = 0
            for frame in frames:
                if len(frame) > limit:
                    out.append(None)
                    continue
                found = entries.get(frame)
                if found is None:
                    misses += 1
                else:
                    entries.move_to_end(frame)
                    hits += 1
                out.append(found)
            self._hits += hits
            self._misses += misses
        return out

    def put_many(self, items: Sequence[tuple[bytes, Fields]], token: Hashable) -> None:
        """Store results computed under ``token``; ignored if the weights changed meanwhile."""
        if self.capacity <= 0:
            return
        with self._lock:
            if token != self._token:
                return
            entries = self._entries
            for frame, fields in items:
                if len(frame) > self.max_frame_bytes:
                    continue
                entries[frame] = fields
                entries.move_to_end(frame)
            while len(entries) > self.capacity:
                entries.popitem(last=False)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, len(self._entries), self.capacity, self._invalidations
            )
