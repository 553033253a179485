"""Labelled DNP3 frames (link layer on TCP port 20000), labelled as tshark labels real captures.

The captures hold a few hundred DNP3 frames of a dozen shapes; :func:`dnp3_frames` cycles
through :data:`DNP3_SHAPES` (requests, responses and unsolicited responses with the common
object groups and qualifiers) so a detector sees every shape, and above all the multi-chunk
frames whose fields are cut by the data-chunk CRCs.

Labels follow the capture policy (``docs/datasets.md``, :mod:`engine.datasets.dnp3_map`,
:mod:`engine.datasets.tiling`): every field carries the tshark 4.0 name it is dissected under,
folded by :func:`engine.datasets.field_types.field_type` (``dnp3.al.index`` → ``value``,
``dnp3.al.range.start`` → ``address``, ``dnp3.al.cnt`` → ``count`` …). Bytes of an object that
no smaller item names take the object's ``dnp3.al.obj`` (``type_code``): the group and variation
pair is one span. A field cut by a chunk CRC becomes two spans of its type with the
``checksum`` span between; a bit field (link / application control, IIN, point flags, CROB
control code) is one span named by its parent or first bit, as the tiling's "first in document
order" rule gives. Where tshark 4.0 does not decode an object the labels say what tshark says:
the coarse time delay (g52v1) is one ``dnp3.al.unknown_data_chunk`` (``value``), not ``time``.
``scripts/dnp3_check.py`` measures the agreement (1.000 exact on 1000 frames): there is no
deliberate departure from tshark.

Objects: g1v1/v2 binary inputs, g2v1-3 events, g10v2 output status, g12v1 CROB, g20v1/2/5/6,
g21v1/2/9/10 and g22v1/2 counters, g30v1-5 analog inputs, g32v1/2/3/5 events, g40v1/2 and
g41v1/2 analog outputs, g50v1 time, g51v1 CTO, g52v1/2 delay, g60v1-4 class data, g80v1 IIN;
qualifiers 00/01 (start-stop), 06 (all), 07/08 (count), 17/28 (index prefixed). Not made:
link-only frames (no user data), multi-fragment messages (the labeller skips them), file,
device-attribute, octet-string and double-precision objects, g51v2 (tshark 4.0 does not
dissect what follows it), index lists in read requests (tshark 4.0 flags a variation-0 one
malformed).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from engine.datasets.checksums import crc16_dnp
from engine.datasets.field_types import field_type
from engine.datasets.registers import register_values
from engine.detection.dataset import LabelledFrame

#: An application-layer field: its bytes and the tshark name that gives its type.
Piece = tuple[bytes, str]
#: An object (group, variation).
GV = tuple[int, int]

#: Link frame limits: the length byte counts control, addresses and user data (not CRCs).
MAX_USER_DATA = 250
CHUNK = 16
HEADER = 10  # 0564, length, control, destination, source, CRC

_OBJ = "dnp3.al.obj"
_TIME = "dnp3.al.timestamp"
_INDEX = "dnp3.al.index"
# Point flags: one byte, named by its first bit ("Point Value"), per group family.
_BIQ, _BOQ, _CTRQ = "dnp3.al.biq.b7", "dnp3.al.boq.b7", "dnp3.al.ctrq.b7"
_AIQ, _AOQ = "dnp3.al.aiq.b7", "dnp3.al.aoq.b7"
_CNT, _ANA, _AOUT = "dnp3.al.cnt", "dnp3.al.ana.int", "dnp3.al.anaout.int"

#: Point layout of each (group, variation): (width, tshark name) per field; ``None`` for
#: packed bits (one bit per point, one ``dnp3.al.bit`` item per byte); ``()`` for none.
_POINTS: dict[GV, tuple[tuple[int, str], ...] | None] = {
    (1, 1): None,
    (1, 2): ((1, _BIQ),),
    (2, 1): ((1, _BIQ),),
    (2, 2): ((1, _BIQ), (6, _TIME)),
    (2, 3): ((1, _BIQ), (2, "dnp3.al.reltimestamp")),
    (10, 1): None,
    (10, 2): ((1, _BOQ),),
    (12, 1): (
        (1, "dnp3.ctl.op"),  # control code: operation type, queue, clear, trip/close bits
        (1, "dnp3.al.count"),
        (4, "dnp3.al.on_time"),
        (4, "dnp3.al.off_time"),
        (1, "dnp3.al.ctrlstatus"),
    ),
    (20, 1): ((1, _CTRQ), (4, _CNT)),
    (20, 2): ((1, _CTRQ), (2, _CNT)),
    (20, 5): ((4, _CNT),),
    (20, 6): ((2, _CNT),),
    (21, 1): ((1, _CTRQ), (4, _CNT)),
    (21, 2): ((1, _CTRQ), (2, _CNT)),
    (21, 9): ((4, _CNT),),
    (21, 10): ((2, _CNT),),
    (22, 1): ((1, _CTRQ), (4, _CNT)),
    (22, 2): ((1, _CTRQ), (2, _CNT)),
    (30, 1): ((1, _AIQ), (4, _ANA)),
    (30, 2): ((1, _AIQ), (2, _ANA)),
    (30, 3): ((4, _ANA),),
    (30, 4): ((2, _ANA),),
    (30, 5): ((1, _AIQ), (4, "dnp3.al.ana.float")),
    (32, 1): ((1, _AIQ), (4, _ANA)),
    (32, 2): ((1, _AIQ), (2, _ANA)),
    (32, 3): ((1, _AIQ), (4, _ANA), (6, _TIME)),
    (32, 5): ((1, _AIQ), (4, "dnp3.al.ana.float")),
    (40, 1): ((1, _AOQ), (4, _AOUT)),
    (40, 2): ((1, _AOQ), (2, _AOUT)),
    (41, 1): ((4, _AOUT), (1, "dnp3.al.ctrlstatus")),
    (41, 2): ((2, _AOUT), (1, "dnp3.al.ctrlstatus")),
    (50, 1): ((6, _TIME),),
    (51, 1): ((6, _TIME),),
    # tshark 4.0 does not decode the coarse delay (g52v1): one "unknown data chunk" (value).
    (52, 1): ((2, "dnp3.al.unknown_data_chunk"),),
    (52, 2): ((2, "dnp3.al.time_delay"),),
    **{(60, v): () for v in (1, 2, 3, 4)},  # class data: header only
    (80, 1): None,
}
_STATIC: tuple[GV, ...] = ((1, 1), (1, 2), (10, 2), (20, 1), (20, 2), (20, 5), (20, 6))
_STATIC += ((21, 1), (21, 2), (21, 9), (21, 10), (30, 1), (30, 2), (30, 3), (30, 4), (30, 5))
_STATIC += ((40, 1), (40, 2))
#: An integrity poll's answer: one static object per group, in group order (as outstations
#: send them); each entry lists the variations to draw from.
_INTEGRITY: tuple[tuple[GV, ...], ...] = (((1, 1), (1, 2)), ((10, 2),), ((20, 1), (20, 5)))
_INTEGRITY += (((21, 1), (21, 9)), ((30, 1), (30, 3), (30, 4), (30, 5)), ((40, 1), (40, 2)))
_EVENTS: tuple[GV, ...] = (
    (2, 1),
    (2, 2),
    (2, 3),
    (22, 1),
    (22, 2),
    (32, 1),
    (32, 2),
    (32, 3),
    (32, 5),
)


def _le(v: int, width: int) -> bytes:
    return v.to_bytes(width, "little")


def _header(group: int, var: int, qual: int, rng_bytes: bytes, rng_name: str) -> list[Piece]:
    head: list[Piece] = [(bytes([group, var]), _OBJ), (bytes([qual]), "dnp3.al.objq.prefix")]
    if qual in (0x00, 0x01):
        half = len(rng_bytes) // 2
        head += [
            (rng_bytes[:half], "dnp3.al.range.start"),
            (rng_bytes[half:], "dnp3.al.range.stop"),
        ]
    elif rng_bytes:
        head.append((rng_bytes, rng_name))
    return head


def _field_value(rng: random.Random, width: int, name: str) -> int:
    if name in (_BIQ, _BOQ, _CTRQ, _AIQ, _AOQ):
        return rng.choice([0x01, 0x01, 0x01, 0x81, 0x02, 0x03, 0x00, rng.randrange(256)])
    if name == _TIME:  # ms since 1970, around 2010-2030
        return rng.randrange(1_262_304_000_000, 1_893_456_000_000)
    if width == 1:
        return rng.randrange(256)
    return rng.choice([*register_values(rng, 1), rng.randrange(1 << 8 * width)])


def _point(rng: random.Random, layout: tuple[tuple[int, str], ...]) -> list[Piece]:
    out: list[Piece] = []
    for width, name in layout:
        if name == "dnp3.ctl.op":
            value = rng.choice([0x01, 0x03, 0x04, 0x41, 0x81])
        elif name == "dnp3.al.count":
            value = rng.choice([1, 1, 1, rng.randrange(256)])
        elif name in ("dnp3.al.on_time", "dnp3.al.off_time"):
            value = rng.choice([0, 100, 500, 1000, rng.randrange(1 << 16)])
        elif name == "dnp3.al.ctrlstatus":
            value = rng.choice([0, 0, 0, 1, 2, 3, 4])
        elif name.endswith(".float"):  # a measurement: IEEE 754 single, little-endian
            out.append((struct.pack("<f", round(rng.uniform(-500, 5000), rng.randrange(4))), name))
            continue
        else:
            value = _field_value(rng, width, name)
        out.append((_le(value, width), name))
    return out


def _object(
    rng: random.Random,
    gv: GV,
    qual: int,
    count: int,
    *,
    data: bool = True,
    any_variation: bool = False,
) -> list[Piece]:
    """One object header and ``count`` points (no point data when ``data`` is false).

    ``any_variation`` writes variation 0 (a read request's "any variation") in the header.
    """
    layout = _POINTS[gv]
    if any_variation:
        gv = (gv[0], 0)
    if qual in (0x00, 0x01):
        width = 1 if qual == 0x00 else 2
        start = rng.randrange((1 << (8 * width)) - count) if rng.random() < 0.5 else 0
        out = _header(*gv, qual, _le(start, width) + _le(start + count - 1, width), "")
    elif qual == 0x06:
        return _header(*gv, qual, b"", "")
    else:
        width = 1 if qual in (0x07, 0x17) else 2
        out = _header(*gv, qual, _le(count, width), "dnp3.al.range.quantity")
    if not data and qual in (0x00, 0x01, 0x07, 0x08):
        return out
    if layout is None and qual in (0x00, 0x01, 0x07, 0x08):
        bits = [rng.randrange(256) for _ in range((count + 7) // 8)]
        return out + [(bytes([b]), "dnp3.al.bit") for b in bits]
    if qual in (0x00, 0x01, 0x07, 0x08):
        return out + [p for _ in range(count) for p in _point(rng, layout or ())]
    for i in sorted(rng.sample(range(1 << (8 * width)), count)):
        out.append((_le(i, width), _INDEX))
        if data and layout is not None:
            out += _point(rng, layout)
    return out


def _size(pieces: list[Piece]) -> int:
    return sum(len(b) for b, _ in pieces)


def _point_size(gv: GV) -> int:
    layout = _POINTS[gv]
    return 1 if layout is None else sum(w for w, _ in layout)


def _fit(rng: random.Random, gv: GV, qual: int, budget: int) -> int:
    """A point count for ``gv`` that leaves the object within ``budget`` bytes (at least 1)."""
    prefix = {0x17: 1, 0x28: 2}.get(qual, 0)
    per = _point_size(gv) + prefix
    room = max(1, (budget - 7) // per) if _POINTS[gv] is not None else max(1, (budget - 7) * 8)
    return rng.randrange(1, min(room, rng.choice([2, 4, 8, 8, 16, 40])) + 1)


def _objects(
    rng: random.Random, pool: tuple[GV, ...], quals: tuple[int, ...], budget: int
) -> list[Piece]:
    out: list[Piece] = []
    for _ in range(rng.choice([1, 1, 2, 2, 3, 3, 4, 5])):
        left = budget - _size(out)
        if left < 12:
            break
        gv = rng.choice(pool)
        qual = rng.choice(quals)
        if _POINTS[gv] is None and qual in (0x17, 0x28):
            qual = 0x00
        obj = _object(rng, gv, qual, _fit(rng, gv, qual, left))
        if _size(obj) > left:
            break
        out += obj
    return out


def _class_read(rng: random.Random, events_only: bool = False) -> list[Piece]:
    """Class objects (group 60, qualifier 06); class 0 (variation 1) is static data."""
    choices = [[2, 3, 4], [2], [3, 4], [4, 2, 3]]
    classes = rng.choice(choices if events_only else [*choices, [1, 2, 3, 4], [1], [4, 1, 2, 3]])
    return [p for c in classes for p in _object(rng, (60, c), 0x06, 0)]


def _read_request(rng: random.Random) -> list[Piece]:
    """1-3 object headers of static or event groups (index lists are left to control)."""
    out: list[Piece] = []
    for _ in range(rng.randrange(1, 4)):
        gv = rng.choice(_STATIC + _EVENTS)
        qual = rng.choice([0x06, 0x06, 0x00, 0x01, 0x07, 0x08])
        count = rng.randrange(1, 6)
        out += _object(rng, gv, qual, count, data=False, any_variation=rng.random() < 0.4)
    return out


def _with_control(rng: random.Random, fc: int, body: list[Piece], uns: bool = False) -> list[Piece]:
    """Application control (FIR, FIN, sometimes CON, UNS for unsolicited), code, IIN."""
    ctl = 0xC0 | rng.randrange(16) | (0x10 if uns else 0) | (0x20 if rng.random() < 0.3 else 0)
    head: list[Piece] = [(bytes([ctl]), "dnp3.al.ctl"), (bytes([fc]), "dnp3.al.func")]
    if fc >= 0x81:
        iin = rng.choice([0x0000, 0x0000, 0x0010, 0x0080, 0x0100, 0x0002, rng.randrange(1 << 16)])
        head.append((struct.pack(">H", iin), "dnp3.al.iin"))
    return head + body


def _control_object(rng: random.Random) -> list[Piece]:
    """A CROB or analog output block, index-prefixed (1-3 points)."""
    gv = rng.choice([(12, 1), (12, 1), (41, 1), (41, 2)])
    return _object(rng, gv, rng.choice([0x17, 0x28]), rng.choice([1, 1, 1, 2, 3]))


def _integrity(rng: random.Random, budget: int) -> list[Piece]:
    """Static objects of most groups in group order, 8- or 16-bit start-stop ranges."""
    body: list[Piece] = []
    for variations in _INTEGRITY:
        gv, qual = rng.choice(variations), rng.choice([0x00, 0x00, 0x01])
        obj = _object(rng, gv, qual, _fit(rng, gv, qual, budget - _size(body)))
        if _size(body) + _size(obj) <= budget and rng.random() < 0.8:
            body += obj
    return body


def _events(rng: random.Random, budget: int) -> list[Piece]:
    """Event objects, index-prefixed, often after a common time of occurrence (g51v1)."""
    cto = _object(rng, (51, 1), 0x07, 1) if rng.random() < 0.5 else []
    return cto + _objects(rng, _EVENTS, (0x17, 0x28, 0x28), budget - _size(cto))


Body = Callable[[random.Random, int], list[Piece]]


def _none(rng: random.Random, budget: int) -> list[Piece]:
    return []


#: Shape name → (function code, application body); the DNP3 function codes are 0 confirm,
#: 1 read, 2 write, 3 select, 4 operate, 5/6 direct operate (no ack), 13/14 cold/warm restart,
#: 20/21 enable/disable unsolicited, 23 delay measurement, 24 record current time, 0x81
#: response, 0x82 unsolicited response.
_SHAPES: dict[str, tuple[int, Body]] = {
    "confirm": (0x00, _none),
    "read_class": (0x01, lambda r, _: _class_read(r)),
    "read": (0x01, lambda r, _: _read_request(r)),
    "write_time": (0x02, lambda r, _: _object(r, (50, 1), 0x07, 1)),
    "write_iin": (0x02, lambda r, _: _object(r, (80, 1), 0x00, 1)),  # clear device restart
    "select": (0x03, lambda r, _: _control_object(r)),
    "operate": (0x04, lambda r, _: _control_object(r)),
    "direct_operate": (0x05, lambda r, _: _control_object(r)),
    "direct_operate_nr": (0x06, lambda r, _: _control_object(r)),
    "cold_restart": (0x0D, _none),
    "warm_restart": (0x0E, _none),
    "enable_unsolicited": (0x14, lambda r, _: _class_read(r, events_only=True)),
    "disable_unsolicited": (0x15, lambda r, _: _class_read(r, events_only=True)),
    "delay_measure": (0x17, _none),
    "record_time": (0x18, _none),
    "response_null": (0x81, _none),
    "response_static": (0x81, lambda r, b: _objects(r, _STATIC, (0x00, 0x01, 0x00), b)),
    "response_integrity": (0x81, _integrity),
    "response_events": (0x81, _events),
    "response_control": (0x81, lambda r, _: _control_object(r)),
    # To a delay measurement (fine, g52v2) or a restart (coarse, g52v1).
    "response_delay": (0x81, lambda r, _: _object(r, (52, r.choice([1, 2])), 0x07, 1)),
    "unsolicited_events": (0x82, _events),
    "unsolicited_null": (0x82, _none),
}
#: Shapes in the order :func:`dnp3_frames` cycles through them: every shape once, the
#: multi-chunk responses (static, integrity, events) twice more.
DNP3_SHAPES: tuple[str, ...] = (
    *_SHAPES,
    *("response_static", "response_integrity", "response_events", "unsolicited_events"),
    *("response_static", "response_integrity", "response_events"),
)


#: The link header's fields: (start, end, tshark name).
_LINK_HEADER: tuple[tuple[int, int, str], ...] = (
    *((0, 2, "dnp3.start"), (2, 3, "dnp3.len"), (3, 4, "dnp3.ctl"), (4, 6, "dnp3.dst")),
    *((6, 8, "dnp3.src"), (8, 10, "dnp3.hdr.CRC")),
)
_CHUNK_CRC = field_type("dnp.data_chunk.CRC") or "checksum"


def _link(rng: random.Random, app: list[Piece], response: bool) -> LabelledFrame:
    """Wrap application pieces in transport byte, link header and chunk CRCs; label it all."""
    user: list[Piece] = [(bytes([0xC0 | rng.randrange(64)]), "dnp3.tr.ctl"), *app]
    size = sum(len(b) for b, _ in user)
    if size > MAX_USER_DATA:
        raise ValueError(f"{size} bytes of user data (at most {MAX_USER_DATA})")
    func = rng.choice([4, 4, 4, 3])  # unconfirmed / confirmed user data
    ctl = (0x80 if not response else 0) | 0x40 | func | (rng.choice([0, 0x30]) if func == 3 else 0)
    dst, src = rng.choice(
        [(4, 3), (1, 10), (1024, 1), (rng.randrange(0xFFF0), rng.randrange(0xFFF0))]
    )
    if response:
        src, dst = dst, src
    head = b"\x05\x64" + bytes([5 + size, ctl]) + struct.pack("<HH", dst, src)
    frame = bytearray(head + _le(crc16_dnp(head), 2))
    spans: list[tuple[int, int, str]] = []
    for start, end, name in _LINK_HEADER:
        spans.append((start, end, field_type(name) or "value"))
    data = b"".join(b for b, _ in user)
    pos = 0  # user-data offset
    for piece, name in user:
        ftype = field_type(name) or "value"
        end = pos + len(piece)
        while pos < end:
            chunk_end = min(end, (pos // CHUNK + 1) * CHUNK)
            at = len(frame)
            frame += data[pos:chunk_end]
            spans.append((at, len(frame), ftype))
            pos = chunk_end
            if pos % CHUNK == 0 or pos == size:
                chunk = data[(pos - 1) // CHUNK * CHUNK : pos]
                spans.append((len(frame), len(frame) + 2, _CHUNK_CRC))
                frame += _le(crc16_dnp(chunk), 2)
    return LabelledFrame(bytes(frame), tuple(spans), "dnp3")


def dnp3_shape_frame(rng: random.Random, shape: str) -> LabelledFrame:
    """One labelled DNP3 link frame of ``shape`` (a key of :data:`DNP3_SHAPES`).

    Raises:
        ValueError: ``shape`` is unknown.
    """
    if shape not in _SHAPES:
        raise ValueError(f"no DNP3 shape {shape!r}")
    fc, body = _SHAPES[shape]
    # Room for the objects: user data less transport byte, application control, code, IIN;
    # some frames are kept short (most real responses are 2-6 chunks).
    budget = MAX_USER_DATA - 5 - rng.choice([0, 0, 100, 150, 180])
    app = _with_control(rng, fc, body(rng, budget), uns=fc == 0x82)
    return _link(rng, app, response=fc >= 0x81)


def dnp3_frames(n: int, seed: int = 0) -> list[LabelledFrame]:
    """``n`` frames, frame ``i`` of shape ``DNP3_SHAPES[i % len(DNP3_SHAPES)]``.

    Deterministic for a given ``seed``.
    """
    rng = random.Random(seed)
    return [dnp3_shape_frame(rng, DNP3_SHAPES[i % len(DNP3_SHAPES)]) for i in range(n)]
