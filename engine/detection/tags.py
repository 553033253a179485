"""BIOES tags over field types.

Each byte gets one tag: ``B-t`` (first byte of a multi-byte field of type ``t``), ``I-t`` (inside),
``E-t`` (last byte), ``S-t`` (a one-byte field) or ``O`` (no field). Index 0 is always ``O``;
new types are appended, so a tag set extended for incremental training keeps every old index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from engine.detection.boundary import Span
from engine.errors import DatasetError

OUTSIDE = "O"
UNKNOWN_TYPE = "unknown"
_PREFIXES = ("B", "I", "E", "S")
# Kind codes used by the vectorised decoder.
_KIND_O, _KIND_B, _KIND_I, _KIND_E, _KIND_S = 0, 1, 2, 3, 4


class TagSet:
    """Maps field spans to per-byte tag ids and back.

    Args:
        field_types: Type names, in index order. Order matters: it fixes tag ids.
    """

    def __init__(self, field_types: Sequence[str]) -> None:
        types = list(dict.fromkeys(field_types))
        for t in types:
            if not isinstance(t, str) or not t or t == OUTSIDE:
                raise DatasetError(f"invalid field type name: {t!r}")
        self.field_types: list[str] = types
        self.tags: list[str] = [OUTSIDE] + [f"{p}-{t}" for t in types for p in _PREFIXES]
        self._index = {tag: i for i, tag in enumerate(self.tags)}
        kinds = [_KIND_O] + [_KIND_B, _KIND_I, _KIND_E, _KIND_S] * len(types)
        self._kind = np.asarray(kinds, dtype=np.int8)
        # Type id per tag: -1 for O, else the index into field_types.
        self._type = np.asarray([-1] + [i for i in range(len(types)) for _ in _PREFIXES])

    @classmethod
    def from_spans(cls, span_lists: Iterable[Iterable[Span]]) -> TagSet:
        """Build a tag set from every type that occurs in ``span_lists`` (sorted by name)."""
        return cls(sorted({s[2] for spans in span_lists for s in spans}))

    @classmethod
    def from_tags(cls, tags: Sequence[str]) -> TagSet:
        """Rebuild a tag set from its tag list (as stored in a checkpoint)."""
        if not tags or tags[0] != OUTSIDE or (len(tags) - 1) % 4:
            raise DatasetError("tag list must start with 'O' followed by B/I/E/S groups")
        types = [t[2:] for t in tags[1::4]]
        built = cls(types)
        if built.tags != list(tags):
            raise DatasetError("tag list is not in B/I/E/S order")
        return built

    def __len__(self) -> int:
        return len(self.tags)

    def extended(self, field_types: Iterable[str]) -> TagSet:
        """A tag set with ``field_types`` appended; existing tag ids are unchanged."""
        new = [t for t in sorted(set(field_types)) if t not in self.field_types]
        return TagSet(self.field_types + new)

    def encode(self, length: int, spans: Iterable[Span]) -> list[int]:
        """Per-byte tag ids for a message of ``length`` bytes labelled with ``spans``."""
        ids = [0] * length
        for start, end, ftype in spans:
            width = end - start
            if width == 1:
                ids[start] = self._index[f"S-{ftype}"]
                continue
            ids[start] = self._index[f"B-{ftype}"]
            inside = self._index[f"I-{ftype}"]
            for i in range(start + 1, end - 1):
                ids[i] = inside
            ids[end - 1] = self._index[f"E-{ftype}"]
        return ids

    def decode(self, tag_ids: np.ndarray) -> list[tuple[int, int, int]]:
        """Turn a tag path into spans that tile the message.

        The path is read permissively (a CRF path need not be well-formed BIOES): a field starts
        at a ``B``/``S`` tag, after an ``E``/``S`` tag, or where the type changes. Runs of ``O``
        become fields of type ``unknown``.

        Returns:
            ``(start, end, type_id)`` triples; ``type_id`` is -1 for ``unknown``.
        """
        ids = np.asarray(tag_ids)
        n = ids.shape[0]
        if n == 0:
            return []
        ftype = self._type[ids]
        starts = self.cut_mask(ids[None, :])[0]
        idx = np.flatnonzero(starts)
        ends = np.append(idx[1:], n)
        return [(int(s), int(e), int(ftype[s])) for s, e in zip(idx, ends, strict=True)]

    def cut_mask(self, paths: np.ndarray) -> np.ndarray:
        """``(B, T)`` bool: where a field starts in each padded tag path (column 0 always).

        The rule of :meth:`decode`. On gold paths it gives the boundary head's targets.
        """
        kind = self._kind[paths]
        ftype = self._type[paths]
        starts = np.zeros(paths.shape, dtype=bool)
        starts[:, 0] = True
        if paths.shape[1] > 1:
            starts[:, 1:] = (
                (kind[:, 1:] == _KIND_B)
                | (kind[:, 1:] == _KIND_S)
                | (kind[:, :-1] == _KIND_E)
                | (kind[:, :-1] == _KIND_S)
                | (ftype[:, 1:] != ftype[:, :-1])
            )
        return starts

    def decode_flat(
        self, paths: np.ndarray, lengths: np.ndarray, cuts: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`decode` for a padded ``(B, T)`` batch, vectorised over the whole batch.

        Args:
            paths: ``(B, T)`` tag ids.
            lengths: ``(B,)`` true lengths.
            cuts: ``(B, T)`` bool field starts to use instead of the paths' own (the boundary
                head's reading); each span then takes the type of the tag at its first byte.

        Returns:
            Flat arrays ``(rows, starts, ends, type_ids)`` of every span, ordered by row and
            then by start.
        """
        t = paths.shape[1]
        starts = self.cut_mask(paths) if cuts is None else cuts.copy()
        starts[:, 0] = True
        ftype = self._type[paths]
        starts &= np.arange(t)[None, :] < lengths[:, None]
        rows, cols = np.nonzero(starts)  # row-major: sorted by row, then start
        # A span ends where the next one in its row starts, or at the row's length.
        next_in_row = np.append(rows[1:] == rows[:-1], False)
        ends = np.where(next_in_row, np.append(cols[1:], 0), lengths[rows])
        return rows, cols, ends, ftype[rows, cols]

    def type_name(self, type_id: int) -> str:
        """Name of a type id returned by :meth:`decode`."""
        return UNKNOWN_TYPE if type_id < 0 else self.field_types[type_id]
