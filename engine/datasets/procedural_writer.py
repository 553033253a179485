"""One procedural message being written, and what its derived fields say.

The elements of :mod:`engine.datasets.procedural_fields` write into a :class:`Writer`; fields whose
value depends on other bytes (lengths, counts, offsets, checksums) reserve their bytes, are
filled in once those bytes exist and each record a :class:`Relation`, so a test can recompute the
value from the finished message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Literal, Protocol

Span = tuple[int, int, str]
ByteOrder = Literal["big", "little"]


@dataclass(frozen=True, slots=True)
class Relation:
    """What a derived field's value says about the message (``end`` exclusive everywhere).

    Attributes:
        kind: ``length`` (value = ``target`` size), ``count`` (value = ``len(elements)``),
            ``offset`` (value = ``target[0]``) or ``checksum`` (value = ``algorithm`` over
            ``target``).
        field: The field's own byte range.
        byteorder: ``big`` or ``little``.
        target: The bytes the value describes.
        algorithm: Checksum name (a key of :data:`engine.datasets.checksums.CHECKSUMS`).
        elements: Start offsets of the counted elements (``count`` only).
    """

    kind: str
    field: tuple[int, int]
    byteorder: ByteOrder
    target: tuple[int, int]
    algorithm: str = ""
    elements: tuple[int, ...] = ()


@dataclass(slots=True)
class Writer:
    """One message being written: bytes, spans, relations and pending fill-ins."""

    rng: Random
    index: int
    message_type: int
    buf: bytearray = field(default_factory=bytearray)
    spans: list[Span] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    elements: dict[int, list[int]] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    at_end: list[Callable[[], None]] = field(default_factory=list)
    checksums: list[Callable[[], None]] = field(default_factory=list)

    def put(self, data: bytes, label: str) -> tuple[int, int]:
        """Append ``data`` as one field of type ``label``; returns its byte range."""
        start = len(self.buf)
        self.buf += data
        if data:
            self.spans.append((start, len(self.buf), label))
        return start, len(self.buf)

    def fill(self, where: tuple[int, int], value: int, byteorder: ByteOrder) -> None:
        """Overwrite a reserved field with ``value``."""
        self.buf[where[0] : where[1]] = value.to_bytes(where[1] - where[0], byteorder)

    def count(self, array_id: int, low: int, high: int) -> int:
        """This message's element count for an array (drawn once, read by field and array)."""
        return self.counts.setdefault(array_id, self.rng.randint(low, high))


class Element(Protocol):
    """A grammar element: writes itself, describes itself."""

    def emit(self, w: Writer) -> None:
        """Write this element's bytes and spans into ``w``."""

    def describe(self, indent: str) -> str:
        """A readable line (or block) for :meth:`Grammar.describe`."""

    def kinds(self) -> set[str]:
        """The element kinds used here (for variety checks)."""


def order_name(byteorder: str) -> str:
    """``BE`` or ``LE``, for descriptions."""
    return "BE" if byteorder == "big" else "LE"
