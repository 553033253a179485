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
from collections.abc import Callable, Hashable, Sequence
from typing import NamedTuple

import torch

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

    def detect(
        self,
        frames: Sequence[bytes],
        token: Hashable,
        compute: Callable[[list[bytes]], list[list[FieldBoundary]]],
    ) -> list[list[FieldBoundary]]:
        """Results for ``frames`` in order: cached ones looked up, the rest computed once each.

        Args:
            frames: Checked messages, in the caller's order (repeats allowed).
            token: :func:`weights_token` of the model ``compute`` runs; a new token empties
                the cache first.
            compute: Detects the distinct uncached frames (any order in, same order out).

        Returns:
            One list per frame; every list is the caller's own (never the cached tuple).
        """
        self.validate(token)
        out: list[list[FieldBoundary]] = [[] for _ in frames]
        # Frames to compute, each once: frame → the indices that want it.
        todo: dict[bytes, list[int]] = {}
        for i, (frame, hit) in enumerate(zip(frames, self.get_many(frames), strict=True)):
            if hit is not None:
                out[i] = list(hit)
            else:
                todo.setdefault(frame, []).append(i)
        if not todo:
            return out
        unique = list(todo)
        results = compute(unique)
        for frame, fields in zip(unique, results, strict=True):
            first, *rest = todo[frame]
            out[first] = fields
            for j in rest:
                out[j] = list(fields)
        if self.enabled:
            fresh = [
                (f, tuple(r)) for f, r in zip(unique, results, strict=True) if self.cacheable(f)
            ]
            self.put_many(fresh, token)
        return out


def weights_token(
    model: torch.nn.Module, float_model: torch.nn.Module | None, tagset: object
) -> tuple[object, ...]:
    """Fingerprint of the weights inference uses: which objects, and each parameter's in-place
    version counter (an optimizer step or ``load_state_dict`` bumps it)."""
    versions = (
        tuple(p._version for p in float_model.parameters()) if float_model is not None else ()
    )
    return (id(model), id(float_model), id(tagset), versions)
