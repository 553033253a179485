"""Turn a dissector's nested items into spans that tile a message exactly.

Policy (see docs/datasets.md):

* Every item start and end inside the message is a cut, except cuts inside two items that
  *cross* (overlap without nesting): those are merged into one field over their union.
* Each piece between two cuts is named by the smallest named item that covers it; among items of
  the same size the first in document order wins, so bit-fields that share their parent's bytes
  (``dns.flags`` and ``dns.flags.response``…) fold into the parent.
* Bytes no named item covers become explicit spans of type ``unknown``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.detection.boundary import Span
from engine.detection.tags import UNKNOWN_TYPE


@dataclass(frozen=True, slots=True)
class Piece:
    """An item in message coordinates; ``name`` is ``None`` for items that give no type."""

    start: int
    end: int
    name: str | None


def _cuts(pieces: Sequence[Piece], length: int) -> list[int]:
    cuts = {0, length}
    for p in pieces:
        cuts.add(p.start)
        cuts.add(p.end)
    # Crossing pairs: scan by (start, -end) with a stack of open intervals.
    merged: list[tuple[int, int]] = []
    stack: list[tuple[int, int]] = []
    for s, e in sorted({(p.start, p.end) for p in pieces}, key=lambda x: (x[0], -x[1])):
        while stack and stack[-1][1] <= s:
            stack.pop()
        if stack and e > stack[-1][1]:
            merged.append((stack[-1][0], e))
        stack.append((s, e))
    for lo, hi in merged:
        cuts = {c for c in cuts if not lo < c < hi}
    return sorted(c for c in cuts if 0 <= c <= length)


def tile(pieces: Sequence[Piece], length: int, type_of: Callable[[str], str | None]) -> list[Span]:
    """Spans ``(start, end, type)`` tiling ``[0, length)``.

    Args:
        pieces: Items clipped to the message, in document order.
        length: Message length in bytes.
        type_of: Field name → type label, or ``None`` for names that give no type.
    """
    owner: list[str | None] = [None] * length
    named: list[tuple[int, int, int, str]] = []
    for i, p in enumerate(pieces):
        label = type_of(p.name) if p.name else None
        if label is not None:
            named.append((p.end - p.start, i, p.start, label))
    # Paint large items first and, at equal size, later ones first: the last painter wins.
    for size, _, start, label in sorted(named, key=lambda x: (-x[0], -x[1])):
        for i in range(start, start + size):
            owner[i] = label
    cuts = _cuts(pieces, length)
    spans: list[Span] = []
    for a, b in itertools.pairwise(cuts):
        if a < b:
            spans.append((a, b, owner[a] or UNKNOWN_TYPE))
    return spans
