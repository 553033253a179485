"""Every public Modbus function code, requests, responses and exceptions in equal numbers.

:func:`engine.datasets.synthetic.modbus_pcap_style` draws the function codes seen in the
captures (FC 1-6, 15, 16), so a detector trained on it never sees diagnostics, file records or
device identification. :func:`modbus_balanced` cycles through :data:`MODBUS_SHAPES` (each
function code of :data:`MODBUS_FUNCTION_CODES` as a request, a normal response and an exception
response), so every shape gets the same number of frames.

Labels follow the capture policy of ``docs/datasets.md``: the names tshark 4.0 gives each field,
folded by :func:`engine.datasets.field_types.field_type` (``modbus.byte_cnt`` → ``count``,
``modbus.reference_num`` → ``address``, ``modbus.ev_status`` → ``flags`` …), one ``value`` per
16-bit register. Deliberate departures from tshark, where it does not dissect a field:

* FC 5: the output value ``0xFF00``/``0x0000`` is one 2-byte ``value`` (tshark: 1-byte value +
  1-byte padding);
* register data that tshark shows as one ``modbus.data`` block (FC 8 query data, FC 20/21 file
  records, FC 23 and FC 24 registers) is one ``value`` per 16-bit register;
* FC 8 sub-function 3 (change ASCII delimiter): ``value`` (the character) + ``padding`` (its
  ``00``), which tshark leaves undissected (``unknown``);
* FC 17 (report server id), which tshark shows as one data block, is ``count`` (byte count),
  ``id`` (server id), ``flags`` (run indicator), ``value`` (device-specific data).
"""

from __future__ import annotations

import random
import struct

from engine.datasets.registers import register_values
from engine.detection.dataset import LabelledFrame

#: The public function codes of the Modbus Application Protocol v1.1b3 (43 is MEI type 14,
#: read device identification).
MODBUS_FUNCTION_CODES: tuple[int, ...] = (
    *(1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24, 43),
)
MODBUS_KINDS: tuple[str, ...] = ("request", "response", "exception")
#: ``(function code, kind)`` in the order :func:`modbus_balanced` cycles through them.
MODBUS_SHAPES: tuple[tuple[int, str], ...] = tuple(
    (fc, kind) for fc in MODBUS_FUNCTION_CODES for kind in MODBUS_KINDS
)
_MBAP = ((2, "id"), (2, "magic"), (2, "length"), (1, "id"), (1, "type_code"))
#: FC 8 sub-functions that return a counter (0x0B-0x12) and those that echo their data.
_DIAG_COUNTERS = tuple(range(0x0B, 0x13))
_DIAG_ECHO = (0x00, 0x01, 0x02, 0x03, 0x0A, 0x14)
_DEVICE_STRINGS = (b"ACME", b"Schneider Electric", b"PM5560", b"V3.11", b"1.0.4", b"ProSoft")

Piece = tuple[bytes, str]


def _u8(v: int, ftype: str) -> Piece:
    return bytes([v]), ftype


def _u16(v: int, ftype: str) -> Piece:
    return struct.pack(">H", v), ftype


def _registers(rng: random.Random, n: int) -> list[Piece]:
    return [_u16(v, "value") for v in register_values(rng, n)]


def _address(rng: random.Random) -> int:
    return rng.choice([rng.randrange(0x100), rng.randrange(0x10000), rng.randrange(10000)])


def _diagnostics(rng: random.Random, request: bool) -> list[Piece]:
    sub = rng.choice(_DIAG_ECHO + _DIAG_COUNTERS)
    head = _u16(sub, "type_code")
    if sub == 0x00:  # return query data: any words, echoed
        return [head, *_registers(rng, rng.randrange(1, 5))]
    if sub in _DIAG_COUNTERS:
        return [head, _u16(0, "value") if request else _u16(rng.randrange(0x10000), "count")]
    if sub == 0x03:  # change ASCII input delimiter: the character, then 00
        return [head, _u8(rng.randrange(0x20, 0x7F), "value"), _u8(0, "padding")]
    data = {0x01: rng.choice([0x0000, 0xFF00]), 0x02: rng.randrange(0x10000)}
    return [head, _u16(data.get(sub, 0), "value")]


def _file_records(rng: random.Random, fc: int, request: bool) -> list[Piece]:
    """FC 20/21 sub-requests: reference type 6, file + record number, length (+ data)."""
    groups: list[Piece] = []
    for _ in range(rng.randrange(1, 4)):
        words = rng.randrange(1, 9)
        if fc == 20 and not request:
            groups += [_u8(1 + 2 * words, "count"), _u8(6, "value"), *_registers(rng, words)]
            continue
        ref = struct.pack(">HH", rng.randrange(1, 11), rng.randrange(10000))
        groups += [_u8(6, "value"), (ref, "address"), _u16(words, "count")]
        if fc == 21:
            groups += _registers(rng, words)
    return [_u8(sum(len(b) for b, _ in groups), "count"), *groups]


def _device_id(rng: random.Random, request: bool) -> list[Piece]:
    code = rng.randrange(1, 5)
    head = [_u8(0x0E, "type_code"), _u8(code, "id")]
    if request:
        return [*head, _u8(rng.randrange(0, 7) if code != 4 else rng.randrange(3), "id")]
    objects: list[Piece] = []
    first = rng.randrange(3)
    count = 1 if code == 4 else rng.randrange(1, 4)
    for obj in range(first, first + count):
        text = rng.choice(_DEVICE_STRINGS)
        objects += [_u8(obj, "id"), _u8(len(text), "length"), (text, "value")]
    more = rng.random() < 0.2
    return [
        *head,
        _u8(rng.choice([0x01, 0x02, 0x03, 0x81, 0x82, 0x83]), "value"),
        _u8(0xFF if more else 0x00, "value"),
        _u8(first + count if more else 0, "id"),
        _u8(count, "value"),
        *objects,
    ]


def _body(rng: random.Random, fc: int, request: bool) -> list[Piece]:
    """The PDU after the function code."""
    if fc in (1, 2, 3, 4) and request:
        limit = 126 if fc in (3, 4) else 2001
        return [_u16(_address(rng), "address"), _u16(rng.randrange(1, limit), "count")]
    if fc in (1, 2):  # coil / input bytes: tshark's modbus.bitnum per byte
        data = [_u8(rng.randrange(256), "address") for _ in range(rng.randrange(1, 61))]
        return [_u8(len(data), "count"), *data]
    if fc in (3, 4):
        regs = _registers(rng, rng.randrange(1, 61))
        return [_u8(2 * len(regs), "count"), *regs]
    if fc == 5:
        return [_u16(_address(rng), "address"), _u16(rng.choice([0xFF00, 0x0000]), "value")]
    if fc == 6:
        return [_u16(_address(rng), "address"), *_registers(rng, 1)]
    if fc in (7, 11, 12, 17) and request:
        return []
    if fc == 7:
        return [_u8(rng.randrange(256), "value")]
    if fc == 8:
        return _diagnostics(rng, request)
    if fc == 11:
        return [_u16(rng.choice([0, 0xFFFF]), "flags"), _u16(rng.randrange(0x10000), "count")]
    if fc == 12:
        events = [_u8(rng.randrange(256), "value") for _ in range(rng.randrange(0, 20))]
        fixed = [
            _u16(rng.choice([0, 0xFFFF]), "flags"),
            _u16(rng.randrange(0x10000), "count"),
            _u16(rng.randrange(0x10000), "count"),
        ]
        return [_u8(6 + len(events), "count"), *fixed, *events]
    if fc in (15, 16) and not request:
        return [_u16(_address(rng), "address"), _u16(rng.randrange(1, 124), "count")]
    if fc == 15:
        quantity = rng.randrange(1, 1969)
        coils = bytes(rng.randrange(256) for _ in range((quantity + 7) // 8))
        head = [_u16(_address(rng), "address"), _u16(quantity, "count")]
        return [*head, _u8(len(coils), "count"), (coils, "value")]
    if fc == 16:
        regs = _registers(rng, rng.randrange(1, 61))
        head = [_u16(_address(rng), "address"), _u16(len(regs), "count")]
        return [*head, _u8(2 * len(regs), "count"), *regs]
    if fc == 17:
        extra = rng.choice([b"", b"\x01", rng.choice(_DEVICE_STRINGS)])
        pieces = [_u8(rng.randrange(256), "id"), _u8(rng.choice([0, 0xFF]), "flags")]
        if extra:
            pieces.append((extra, "value"))
        return [_u8(2 + len(extra), "count"), *pieces]
    if fc in (20, 21):
        return _file_records(rng, fc, request)
    if fc == 22:
        masks = [_u16(rng.randrange(0x10000), "value") for _ in range(2)]
        return [_u16(_address(rng), "address"), *masks]
    if fc == 23 and request:
        regs = _registers(rng, rng.randrange(1, 41))
        read = [_u16(_address(rng), "address"), _u16(rng.randrange(1, 61), "count")]
        write = [_u16(_address(rng), "address"), _u16(len(regs), "count")]
        return [*read, *write, _u8(2 * len(regs), "count"), *regs]
    if fc == 23:
        regs = _registers(rng, rng.randrange(1, 61))
        return [_u8(2 * len(regs), "count"), *regs]
    if fc == 24 and request:
        return [_u16(_address(rng), "address")]
    if fc == 24:
        regs = _registers(rng, rng.randrange(0, 32))
        return [_u16(2 + 2 * len(regs), "count"), _u16(len(regs), "count"), *regs]
    if fc == 43:
        return _device_id(rng, request)
    raise ValueError(f"not a public Modbus function code: {fc}")


def modbus_shape_frame(rng: random.Random, fc: int, kind: str) -> LabelledFrame:
    """One Modbus/TCP ADU of function code ``fc`` and ``kind`` (see :data:`MODBUS_KINDS`).

    Raises:
        ValueError: ``fc`` is not in :data:`MODBUS_FUNCTION_CODES` or ``kind`` is unknown.
    """
    if fc not in MODBUS_FUNCTION_CODES or kind not in MODBUS_KINDS:
        raise ValueError(f"no Modbus shape ({fc}, {kind!r})")
    if kind == "exception":
        body = [_u8(rng.choice([1, 2, 3, 4, 4, 5, 6, 8, 10, 11]), "type_code")]
        code = fc | 0x80
    else:
        body, code = _body(rng, fc, kind == "request"), fc
    pdu = bytes([code]) + b"".join(b for b, _ in body)
    tid = rng.choice([rng.randrange(0x10000), rng.randrange(0x100), rng.randrange(0x10)])
    unit = rng.choice([rng.randrange(1, 248), rng.randrange(1, 11), 0xFF, 0, 1])
    adu = struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for width, ftype in (*_MBAP, *((len(b), t) for b, t in body)):
        spans.append((pos, pos + width, ftype))
        pos += width
    return LabelledFrame(adu, tuple(spans), "modbus")


def modbus_balanced(n: int, seed: int = 0) -> list[LabelledFrame]:
    """``n`` frames, frame ``i`` of shape ``MODBUS_SHAPES[i % len(MODBUS_SHAPES)]``.

    Deterministic for a given ``seed``; with ``n`` a multiple of ``len(MODBUS_SHAPES)`` (57)
    every function code has exactly as many requests, responses and exceptions.
    """
    rng = random.Random(seed)
    shapes = MODBUS_SHAPES
    return [modbus_shape_frame(rng, *shapes[i % len(shapes)]) for i in range(n)]
