"""Procedural protocols: random message grammars that exist nowhere, with exact labels.

A detector trained on a handful of real protocols learns those protocols. Trained on many
grammars that share only the *cues* real protocols share (constants at the start, lengths that
match what follows, counts followed by that many elements, checksums at the end, printable runs,
zero padding to alignment, slowly counting sequence numbers, timestamps near "now"), it has to
learn the cues. :func:`random_grammar` draws one grammar from a seed: a header (magic,
version, message type, length, sequence number, ids, addresses, flags, timestamp, offset,
reserved bytes, a header checksum, padding — each optional, in random order, mostly one byte
order), one body per message type (integers of 1/2/4/8 bytes, enums, flags, length-prefixed /
NUL-terminated / fixed-width text, length-prefixed blobs, TLV lists, counted arrays of records,
nested length-prefixed records, padding) and an optional trailer (sum8, CRC-16 or CRC-32 over
the right bytes). :meth:`Grammar.message` writes one message; values and lengths vary per
message.

Labels use the detector's vocabulary (:data:`engine.datasets.field_types.FIELD_TYPES`), one span
per field, spans tiling the message: magic and version → ``magic``; message type and enums →
``type_code``; sequence numbers and ids → ``id``; reserved bytes and alignment → ``padding``;
text → ``name``; integers, blobs and TLV values → ``value`` (TLV values that are text →
``name``); the rest by their kind. Magic constants never start with a byte that opens a
frame of the protocols held out for evaluation (TPKT/S7comm ``03``/``32``/``72``,
IEC 60870-5-104 ``68``, BACnet/IP ``81``); no grammar is modelled on any protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from engine.datasets.checksums import CHECKSUMS
from engine.datasets.procedural_fields import (
    Array,
    Checksum,
    Const,
    Count,
    Length,
    Offset,
    Pad,
    Record,
    Scalar,
    Switch,
    Text,
    Tlv,
)
from engine.datasets.procedural_writer import ByteOrder, Element, Relation, Writer
from engine.detection.dataset import LabelledFrame

#: First bytes a magic never has (frame starts of the evaluation protocols, see module doc).
RESERVED_FIRST_BYTES = frozenset({0x03, 0x32, 0x68, 0x72, 0x81})
PROTOCOL = "procedural"
_UNIX_2015, _UNIX_2035 = 1_420_070_400, 2_051_222_400


@dataclass(frozen=True, slots=True)
class ProceduralMessage:
    """One message of a grammar with what its derived fields say (for checks)."""

    frame: LabelledFrame
    relations: tuple[Relation, ...]
    message_type: int


@dataclass(frozen=True, slots=True)
class Grammar:
    """A random message grammar (see module docstring); ``str(grammar)`` describes it."""

    seed: int
    header: tuple[Element, ...]
    body: Switch
    trailer: tuple[Element, ...]

    @property
    def name(self) -> str:
        """A stable name, from the seed."""
        return f"proc-{self.seed:08x}"

    def message(self, rng: Random, index: int) -> ProceduralMessage:
        """Message number ``index`` (sequence numbers and clocks advance with it)."""
        mtype = rng.choice([t for t, _ in self.body.bodies])
        w = Writer(rng, index, mtype)
        Record("message", (*self.header, self.body, *self.trailer)).emit(w)
        for fill in w.at_end:
            fill()
        for fill in w.checksums:
            fill()
        frame = LabelledFrame(bytes(w.buf), tuple(w.spans), PROTOCOL)
        return ProceduralMessage(frame, tuple(w.relations), mtype)

    def messages(self, n: int, rng: Random) -> list[ProceduralMessage]:
        """``n`` consecutive messages."""
        return [self.message(rng, i) for i in range(n)]

    def kinds(self) -> set[str]:
        """Element kinds the grammar uses (``length:rest``, ``tlv``, ``checksum:crc32`` …)."""
        return set().union(*(e.kinds() for e in (*self.header, self.body, *self.trailer)))

    def describe(self) -> str:
        """The grammar as indented text."""
        parts = [f"grammar {self.name}", "header:"]
        parts += [e.describe("  ") for e in self.header]
        parts += ["body:", self.body.describe("  ")]
        if self.trailer:
            parts += ["trailer:", *(e.describe("  ") for e in self.trailer)]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.describe()


def _magic(rng: Random) -> bytes:
    while True:
        if rng.random() < 0.3:
            data = bytes(
                rng.choice(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(2, 4))
            )
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 2, 4])))
        if data[0] not in RESERVED_FIRST_BYTES and any(data):
            return data


class _Draw:
    """Grammar-drawing helpers sharing one rng and the grammar's main byte order."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.main: ByteOrder = rng.choice(["big", "big", "little"])
        self.arrays = 0

    def order(self) -> ByteOrder:
        other: ByteOrder = "little" if self.main == "big" else "big"
        return self.main if self.rng.random() < 0.85 else other

    def pool(self, width: int, k: int) -> tuple[int, ...]:
        top = 1 << (8 * width)
        return tuple(sorted({self.rng.randrange(1, top) for _ in range(k)}))

    def scalar(self, kind: str) -> Scalar:
        rng = self.rng
        if kind == "uint":
            return Scalar("uint", "value", rng.choice([1, 2, 2, 4, 4, 8]), self.order())
        if kind == "enum":
            width = rng.choice([1, 1, 2])
            return Scalar("enum", "type_code", width, self.order(), self.pool(1, rng.randint(2, 6)))
        if kind == "flags":
            width = rng.choice([1, 1, 2, 4])
            bits = rng.sample(range(8 * width), rng.randint(2, min(8, 8 * width)))
            return Scalar("flags", "flags", width, self.order(), tuple(1 << b for b in bits))
        if kind == "sequence":
            width = rng.choice([1, 2, 2, 4])
            base = rng.randrange(1 << (8 * width))
            return Scalar(
                "sequence", "id", width, self.order(), base=base, step=rng.choice([1, 1, 2])
            )
        if kind == "id":
            width = rng.choice([1, 2, 4, 4, 8])
            return Scalar("id", "id", width, self.order(), self.pool(width, rng.randint(1, 5)))
        if kind == "address":
            width = rng.choice([1, 2, 4, 6])
            return Scalar(
                "address", "address", width, self.order(), self.pool(width, rng.randint(2, 8))
            )
        if kind == "time":
            width, scale = rng.choice([(4, 1), (8, 1), (8, 1000), (8, 1_000_000)])
            base = rng.randrange(_UNIX_2015, _UNIX_2035) * scale
            return Scalar(
                "time", "time", width, self.order(), base=base, step=rng.randint(1, 60), scale=scale
            )
        raise ValueError(f"no scalar kind {kind!r}")

    def array(self, element: Record, *, counted: bool) -> list[Element]:
        self.arrays += 1
        low, high = self.rng.choice([(0, 4), (1, 6), (1, 3)])
        out: list[Element] = []
        if counted:
            out.append(Count(self.arrays, self.rng.choice([1, 1, 2]), self.order(), low, high))
            if self.rng.random() < 0.2:
                out.append(self.scalar("flags"))
        out.append(Array(self.arrays, element, low, high))
        return out

    def small_record(self, name: str, depth: int) -> Record:
        kinds = ["uint", "uint", "enum", "flags", "id", "address", "time"]
        children: list[Element] = [
            self.scalar(k) for k in self.rng.sample(kinds, self.rng.randint(1, 3))
        ]
        if depth < 2 and self.rng.random() < 0.3:
            children.append(Text(self.rng.choice(["lp", "cstring"]), 1))
        if self.rng.random() < 0.35:
            children.insert(0, Length(self.rng.choice([1, 2]), self.order()))
        return Record(name, tuple(children))

    def body_element(self, depth: int) -> list[Element]:
        rng = self.rng
        pick = rng.choices(
            ["scalar", "text", "blob", "tlv", "array", "nested", "pad", "registers"],
            weights=[8, 3, 1, 2, 2, 1 if depth == 0 else 0, 1, 1],
        )[0]
        if pick == "scalar":
            return [
                self.scalar(rng.choice(["uint", "uint", "enum", "flags", "id", "address", "time"]))
            ]
        if pick == "text":
            style = rng.choice(["lp", "lp", "cstring", "fixed"])
            width = rng.randint(4, 16) if style == "fixed" else rng.choice([1, 1, 2])
            return [Text(style, width, self.order())]
        if pick == "blob":
            return [Text("lp", rng.choice([1, 2]), self.order(), label="value", binary=True)]
        if pick == "tlv":
            types = self.pool(1, rng.randint(2, 6))
            text = frozenset(t for t in types if rng.random() < 0.3)
            tlv = Tlv(rng.choice([1, 1, 2]), rng.choice([1, 1, 2]), self.order(), types, text)
            if rng.random() < 0.5:
                return self.array(Record("tlv", (tlv,)), counted=True)
            # A list bounded by its byte length instead of a count.
            inner = self.array(Record("tlv", (tlv,)), counted=False)
            return [Record("tlv-list", (Length(rng.choice([1, 2]), self.order()), *inner))]
        if pick == "array":
            return self.array(self.small_record("element", depth + 1), counted=True)
        if pick == "nested":
            children = [e for _ in range(rng.randint(1, 3)) for e in self.body_element(depth + 1)]
            # Two bytes: arrays of records inside can pass 255 bytes.
            return [Record("nested", (Length(2, self.order()), *children))]
        if pick == "pad":
            return [Pad(rng.choice([2, 4, 8]))]
        width = rng.choice([2, 2, 4])
        reg = Record("register", (Scalar("uint", "value", width, self.order()),))
        return self.array(reg, counted=True)


def random_grammar(seed: int) -> Grammar:
    """The grammar drawn from ``seed`` (a pure function of it)."""
    d = _Draw(Random(seed))
    rng = d.rng
    lead: list[Element] = []
    if rng.random() < 0.7:
        lead.append(Const("magic", "magic", _magic(rng)))
    if rng.random() < 0.4:
        lead.append(Const("version", "magic", bytes([rng.randint(1, 9)])))
    n_types = rng.choice([1, 2, 3, 4]) if rng.random() < 0.85 else 0
    type_values = d.pool(1, n_types) if n_types else (0,)
    rest: list[Element] = []
    if n_types:
        rest.append(Scalar("type", "type_code", rng.choice([1, 1, 2]), d.order()))
    if rng.random() < 0.7:
        rest.append(Length(rng.choice([2, 2, 4]), d.order(), rng.choice(["rest", "rest", "total"])))
    for kind, p in (
        ("sequence", 0.5),
        ("id", 0.4),
        ("flags", 0.5),
        ("address", 0.4),
        ("time", 0.3),
        ("enum", 0.3),
    ):
        if rng.random() < p:
            rest.append(d.scalar(kind))
    if rng.random() < 0.3:
        rest.append(d.scalar("address"))
    if rng.random() < 0.15:
        rest.append(Offset(rng.choice([1, 2]), d.order()))
    if rng.random() < 0.2:
        rest.append(Const("reserved", "padding", bytes(rng.choice([1, 2]))))
    header_checksum = rng.random() < 0.1
    if header_checksum:
        rest.append(Checksum(rng.choice(sorted(CHECKSUMS)), d.order(), "header"))
    rng.shuffle(rest)
    header = [*lead, *rest]
    if not header:
        header.append(d.scalar("uint"))
    if rng.random() < 0.2:
        header.append(Pad(rng.choice([2, 4, 8])))
    bodies = tuple(
        (
            t,
            Record(
                f"body {t:#x}",
                tuple(e for _ in range(rng.randint(0, 5)) for e in d.body_element(0)),
            ),
        )
        for t in type_values
    )
    trailer: list[Element] = []
    if not header_checksum and rng.random() < 0.4:
        start = (
            len(lead[0].data) if lead and isinstance(lead[0], Const) and rng.random() < 0.3 else 0
        )
        trailer.append(Checksum(rng.choice(sorted(CHECKSUMS)), d.order(), "trailer", start))
    return Grammar(seed, tuple(header), Switch(bodies), tuple(trailer))


def procedural_grammars(n_grammars: int, seed: int = 0) -> list[Grammar]:
    """``n_grammars`` grammars whose seeds are drawn from ``seed``."""
    master = Random(seed)
    return [random_grammar(master.getrandbits(32)) for _ in range(n_grammars)]


def procedural_frames(n_grammars: int, per_grammar: int, seed: int = 0) -> list[LabelledFrame]:
    """``per_grammar`` labelled messages of each of ``n_grammars`` random grammars.

    Deterministic for a given ``seed``; frames come grammar by grammar, protocol
    ``procedural``.
    """
    frames: list[LabelledFrame] = []
    for grammar in procedural_grammars(n_grammars, seed):
        rng = Random(f"messages:{grammar.seed}")
        frames += [m.frame for m in grammar.messages(per_grammar, rng)]
    return frames
