"""The elements procedural grammars are made of (constants, integers, lengths, arrays …).

Each writes its bytes and labelled spans into a :class:`~engine.datasets.procedural_writer.Writer`.
Order of filling derived fields: a ``rest`` length when its record ends, offsets and ``total``
lengths when the message ends, checksums last.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from random import Random

from engine.datasets.checksums import CHECKSUMS
from engine.datasets.procedural_writer import ByteOrder, Element, Relation, Writer
from engine.datasets.procedural_writer import order_name as _order

_TEXT = (string.ascii_letters + string.digits + "-_.").encode()


@dataclass(frozen=True, slots=True)
class Const:
    """Bytes fixed for the grammar: a magic, a version, reserved zeros."""

    kind: str
    label: str
    data: bytes

    def emit(self, w: Writer) -> None:
        w.put(self.data, self.label)

    def describe(self, indent: str) -> str:
        return f"{indent}{self.kind} = {self.data.hex()} ({self.label})"

    def kinds(self) -> set[str]:
        return {self.kind}


@dataclass(frozen=True, slots=True)
class Scalar:
    """An integer field whose value varies per message.

    ``kind`` says how values are drawn: ``uint`` (any), ``enum`` / ``flags`` / ``id`` /
    ``address`` (one of ``choices``; flags: any OR of them), ``type`` (the message type),
    ``sequence`` (``base + index * step``), ``time`` (``base`` plus seconds, ``scale`` ticks per
    second).
    """

    kind: str
    label: str
    width: int
    byteorder: ByteOrder
    choices: tuple[int, ...] = ()
    base: int = 0
    step: int = 1
    scale: int = 1

    def value(self, w: Writer) -> int:
        """This message's value."""
        top = 1 << (8 * self.width)
        if self.kind == "type":
            return w.message_type
        if self.kind == "sequence":
            return (self.base + w.index * self.step) % top
        if self.kind == "time":
            return (
                self.base + w.index * self.step * self.scale + w.rng.randrange(self.scale)
            ) % top
        if self.kind == "flags":
            return sum(bit for bit in self.choices if w.rng.random() < 0.5)
        if self.choices:
            return w.rng.choice(self.choices)
        regime = w.rng.random()
        if regime < 0.4:
            return w.rng.randrange(min(top, 256))
        if regime < 0.6:
            return w.rng.randrange(min(top, 1 << 16))
        return w.rng.randrange(top)

    def emit(self, w: Writer) -> None:
        w.put(self.value(w).to_bytes(self.width, self.byteorder), self.label)

    def describe(self, indent: str) -> str:
        extra = f" of {[hex(c) for c in self.choices]}" if self.choices else ""
        return (
            f"{indent}{self.kind} u{8 * self.width} {_order(self.byteorder)}{extra} ({self.label})"
        )

    def kinds(self) -> set[str]:
        return {self.kind}


@dataclass(frozen=True, slots=True)
class Length:
    """Byte length of the rest of its record (``rest``) or of the whole message (``total``)."""

    width: int
    byteorder: ByteOrder
    scope: str = "rest"

    def emit(self, w: Writer) -> None:
        where = w.put(bytes(self.width), "length")
        if self.scope == "total":
            w.at_end.append(lambda: self._fill(w, where, 0, len(w.buf)))

    def close(self, w: Writer, where: tuple[int, int], end: int) -> None:
        """Called by the enclosing record when it ends at ``end``."""
        self._fill(w, where, where[1], end)

    def _fill(self, w: Writer, where: tuple[int, int], start: int, end: int) -> None:
        w.fill(where, end - start, self.byteorder)
        w.relations.append(Relation("length", where, self.byteorder, (start, end)))

    def describe(self, indent: str) -> str:
        what = "rest of record" if self.scope == "rest" else "whole message"
        return f"{indent}length u{8 * self.width} {_order(self.byteorder)} = bytes of {what}"

    def kinds(self) -> set[str]:
        return {f"length:{self.scope}"}


@dataclass(frozen=True, slots=True)
class Record:
    """A sequence of elements; its ``rest`` lengths cover up to its end."""

    name: str
    children: tuple[Element, ...]

    def emit(self, w: Writer) -> None:
        open_lengths: list[tuple[Length, tuple[int, int]]] = []
        for child in self.children:
            mark = len(w.buf)
            child.emit(w)
            if isinstance(child, Length) and child.scope == "rest":
                open_lengths.append((child, (mark, mark + child.width)))
        for length, where in open_lengths:
            length.close(w, where, len(w.buf))

    def describe(self, indent: str) -> str:
        lines = [f"{indent}{self.name}:"]
        lines += [c.describe(indent + "  ") for c in self.children]
        return "\n".join(lines)

    def kinds(self) -> set[str]:
        return {"record"}.union(*(c.kinds() for c in self.children))


@dataclass(frozen=True, slots=True)
class Count:
    """Number of elements of the array with the same ``array_id`` (which may come later)."""

    array_id: int
    width: int
    byteorder: ByteOrder
    low: int
    high: int

    def emit(self, w: Writer) -> None:
        n = w.count(self.array_id, self.low, self.high)
        where = w.put(n.to_bytes(self.width, self.byteorder), "count")

        def relate() -> None:
            starts = tuple(w.elements.get(self.array_id, ()))
            end = w.marks.get(f"array{self.array_id}.end", where[1])
            start = w.marks.get(f"array{self.array_id}.start", where[1])
            w.relations.append(Relation("count", where, self.byteorder, (start, end), "", starts))

        w.at_end.append(relate)

    def describe(self, indent: str) -> str:
        what = f"elements of array {self.array_id}"
        return f"{indent}count u{8 * self.width} {_order(self.byteorder)} = {what}"

    def kinds(self) -> set[str]:
        return {"count"}


@dataclass(frozen=True, slots=True)
class Array:
    """``Count`` elements, each one ``element`` record."""

    array_id: int
    element: Record
    low: int
    high: int

    def emit(self, w: Writer) -> None:
        w.marks[f"array{self.array_id}.start"] = len(w.buf)
        starts = w.elements.setdefault(self.array_id, [])
        for _ in range(w.count(self.array_id, self.low, self.high)):
            starts.append(len(w.buf))
            self.element.emit(w)
        w.marks[f"array{self.array_id}.end"] = len(w.buf)

    def describe(self, indent: str) -> str:
        return (
            f"{indent}array {self.array_id} ({self.low}-{self.high}) of\n"
            + self.element.describe(indent + "  ")
        )

    def kinds(self) -> set[str]:
        return {"array"} | self.element.kinds()


@dataclass(frozen=True, slots=True)
class Tlv:
    """Type-length-value items; the value is text (``name``) for ``text_types``, else bytes."""

    type_width: int
    length_width: int
    byteorder: ByteOrder
    types: tuple[int, ...]
    text_types: frozenset[int]

    def emit(self, w: Writer) -> None:
        t = w.rng.choice(self.types)
        size = w.rng.randint(0 if t not in self.text_types else 1, 12)
        text = t in self.text_types
        value = _text(w.rng, size) if text else bytes(w.rng.randrange(256) for _ in range(size))
        w.put(t.to_bytes(self.type_width, self.byteorder), "type_code")
        where = w.put(size.to_bytes(self.length_width, self.byteorder), "length")
        w.put(value, "name" if text else "value")
        w.relations.append(Relation("length", where, self.byteorder, (where[1], len(w.buf))))

    def describe(self, indent: str) -> str:
        return (
            f"{indent}tlv type u{8 * self.type_width} len u{8 * self.length_width} "
            f"{_order(self.byteorder)} types {list(self.types)} (text: {sorted(self.text_types)})"
        )

    def kinds(self) -> set[str]:
        return {"tlv"}


def _text(rng: Random, size: int) -> bytes:
    return bytes(rng.choice(_TEXT) for _ in range(size))


@dataclass(frozen=True, slots=True)
class Text:
    """ASCII text: length-prefixed (``lp``), NUL-terminated (``cstring``) or ``fixed`` width
    (space- or NUL-padded, one span with its padding); ``label`` ``name`` or ``value``."""

    style: str
    width: int
    byteorder: ByteOrder = "big"
    label: str = "name"
    binary: bool = False

    def emit(self, w: Writer) -> None:
        if self.style == "fixed":
            body = _text(w.rng, w.rng.randint(1, self.width))
            w.put(body.ljust(self.width, w.rng.choice([b" ", b"\0"])), self.label)
            return
        size = w.rng.randint(1 if self.style == "cstring" else 0, 24)
        if self.binary:
            body = bytes(w.rng.randrange(256) for _ in range(size))
        else:
            body = _text(w.rng, size)
        if self.style == "cstring":
            w.put(body + b"\0", self.label)
            return
        where = w.put(size.to_bytes(self.width, self.byteorder), "length")
        w.put(body, self.label)
        w.relations.append(Relation("length", where, self.byteorder, (where[1], len(w.buf))))

    def describe(self, indent: str) -> str:
        what = "bytes" if self.binary else "text"
        size = "" if self.style == "cstring" else f" width {self.width}"
        return f"{indent}{self.style} {what}{size} ({self.label})"

    def kinds(self) -> set[str]:
        return {f"{self.style}-bytes" if self.binary else self.style}


@dataclass(frozen=True, slots=True)
class Pad:
    """Zero bytes up to the next multiple of ``align`` from the message start (maybe none)."""

    align: int

    def emit(self, w: Writer) -> None:
        w.put(bytes(-len(w.buf) % self.align), "padding")

    def describe(self, indent: str) -> str:
        return f"{indent}pad to {self.align}"

    def kinds(self) -> set[str]:
        return {"pad"}


@dataclass(frozen=True, slots=True)
class Offset:
    """Offset from the message start of the first byte of the body."""

    width: int
    byteorder: ByteOrder

    def emit(self, w: Writer) -> None:
        where = w.put(bytes(self.width), "offset")

        def fill() -> None:
            target = w.marks["body"]
            w.fill(where, target, self.byteorder)
            w.relations.append(Relation("offset", where, self.byteorder, (target, target)))

        w.at_end.append(fill)

    def describe(self, indent: str) -> str:
        return f"{indent}offset u{8 * self.width} {_order(self.byteorder)} = start of body"

    def kinds(self) -> set[str]:
        return {"offset"}


@dataclass(frozen=True, slots=True)
class Checksum:
    """A checksum over ``[start, checksum)`` (trailer) or over everything after it (header)."""

    algorithm: str
    byteorder: ByteOrder
    placement: str
    start: int = 0

    def emit(self, w: Writer) -> None:
        width = CHECKSUMS[self.algorithm][0]
        where = w.put(bytes(width), "checksum")

        def fill() -> None:
            span = (where[1], len(w.buf)) if self.placement == "header" else (self.start, where[0])
            w.fill(
                where, CHECKSUMS[self.algorithm][1](bytes(w.buf[span[0] : span[1]])), self.byteorder
            )
            w.relations.append(Relation("checksum", where, self.byteorder, span, self.algorithm))

        w.checksums.append(fill)

    def describe(self, indent: str) -> str:
        cover = "rest of message" if self.placement == "header" else f"bytes {self.start}..here"
        return f"{indent}{self.algorithm} {_order(self.byteorder)} over {cover}"

    def kinds(self) -> set[str]:
        return {f"checksum:{self.algorithm}"}


@dataclass(frozen=True, slots=True)
class Switch:
    """The body: one record per message type (the value the header's ``type`` field carries)."""

    bodies: tuple[tuple[int, Record], ...]

    def emit(self, w: Writer) -> None:
        w.marks["body"] = len(w.buf)
        dict(self.bodies)[w.message_type].emit(w)

    def describe(self, indent: str) -> str:
        return "\n".join(
            f"{indent}when type = {t:#x}:\n" + body.describe(indent + "  ")
            for t, body in self.bodies
        )

    def kinds(self) -> set[str]:
        return set().union(*(b.kinds() for _, b in self.bodies))
