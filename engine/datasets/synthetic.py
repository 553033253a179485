"""Synthetic labelled frames with exact field spans.

Two protocols, built with ``struct`` from their specifications rather than captured:

* ``modbus``: Modbus/TCP (MBAP header + PDU) requests and responses for function codes 1-6, 15,
  16 and exception responses — the field layout of the Modbus Application Protocol v1.1b3.
* ``modbus-pcap``: the same protocol labelled the way ``cronos dataset from-pcap`` labels captures
  (tshark's dissector, :mod:`engine.datasets.field_types` vocabulary, one ``value`` per 16-bit
  register), so it can be mixed into the default model's training data (:func:`modbus_pcap_style`).
* ``modbus-balanced``: every public function code (requests, responses, exceptions in equal
  numbers) in the same labelling (:mod:`engine.datasets.modbus_balanced`);
* ``procedural``: messages of random grammars that exist nowhere
  (:mod:`engine.datasets.procedural`);
* ``telemetry``: a made-up sensor protocol with a magic header, a length byte, a TLV-style body
  and a CRC-16 trailer — different enough from Modbus to test incremental learning.

Every call is deterministic for a given seed.
"""

from __future__ import annotations

import random
import struct

from engine.datasets.checksums import crc16_modbus
from engine.datasets.modbus_balanced import modbus_balanced
from engine.datasets.procedural import procedural_frames
from engine.datasets.registers import register_values
from engine.detection.dataset import LabelledFrame

_MBAP = [(0, 2, "transaction_id"), (2, 4, "protocol_id"), (4, 6, "length"), (6, 7, "unit_id")]


def _mbap(rng: random.Random, pdu_len: int) -> bytes:
    return struct.pack(">HHHB", rng.randrange(65536), 0, pdu_len + 1, rng.randrange(1, 248))


def modbus_frame(rng: random.Random) -> LabelledFrame:
    """One random Modbus/TCP request or response with its field spans."""
    fc = rng.choice([1, 2, 3, 4, 5, 6, 15, 16])
    kind = rng.choice(["request", "response", "response", "exception"])
    spans = [*list(_MBAP), (7, 8, "function_code")]
    if kind == "exception":
        pdu = struct.pack(">BB", fc | 0x80, rng.choice([1, 2, 3, 4]))
        spans += [(8, 9, "exception_code")]
    elif fc in (5, 6) or (kind == "response" and fc in (15, 16)):
        # Echo form: address + value (5/6) or address + quantity (15/16 responses).
        pdu = struct.pack(">BHH", fc, rng.randrange(65536), rng.randrange(65536))
        spans += [(8, 10, "address"), (10, 12, "value" if fc in (5, 6) else "quantity")]
    elif kind == "request" and fc in (1, 2, 3, 4):
        pdu = struct.pack(">BHH", fc, rng.randrange(65536), rng.randrange(1, 126))
        spans += [(8, 10, "address"), (10, 12, "quantity")]
    elif kind == "request":  # 15 / 16 write multiple
        count = rng.randrange(1, 11)
        data = bytes(rng.randrange(256) for _ in range(2 * count))
        pdu = struct.pack(">BHHB", fc, rng.randrange(65536), count, len(data)) + data
        spans += [
            (8, 10, "address"),
            (10, 12, "quantity"),
            (12, 13, "byte_count"),
            (13, 13 + len(data), "data"),
        ]
    else:  # read responses
        n = rng.randrange(1, 21) * (2 if fc in (3, 4) else 1)
        data = bytes(rng.randrange(256) for _ in range(n))
        pdu = struct.pack(">BB", fc, n) + data
        spans += [(8, 9, "byte_count"), (9, 9 + n, "data")]
    return LabelledFrame(_mbap(rng, len(pdu)) + pdu, tuple(spans), "modbus")


#: MBAP header + function code as the pcap labelling types them (``mbtcp.trans_id`` → ``id``,
#: ``mbtcp.prot_id`` → ``magic``, ``mbtcp.len`` → ``length``, ``mbtcp.unit_id`` → ``id``,
#: ``modbus.func_code`` → ``type_code``).
_MBAP_PCAP: tuple[tuple[int, int, str], ...] = (
    (0, 2, "id"),
    (2, 4, "magic"),
    (4, 6, "length"),
    (6, 7, "id"),
    (7, 8, "type_code"),
)


def modbus_pcap_spans(adu: bytes, *, request: bool) -> tuple[tuple[int, int, str], ...] | None:
    """The spans ``cronos dataset from-pcap`` gives one Modbus/TCP ADU (MBAP header + PDU).

    The tshark policy of ``docs/datasets.md`` with the :mod:`engine.datasets.field_types`
    vocabulary, for function codes 1-6, 15, 16 and their exception responses (checked against the
    labelled capture dataset and against tshark itself):

    * MBAP: ``id`` (transaction), ``magic`` (protocol id), ``length``, ``id`` (unit),
      ``type_code`` (function code);
    * read requests (FC 1-4): ``address`` (start), ``count`` (quantity);
    * FC 1/2 responses: ``count`` (byte count), then one ``address`` per data byte
      (``modbus.bitnum``);
    * FC 3/4 responses: ``count``, then one ``value`` per 16-bit register;
    * FC 5: ``address``, ``value`` (1 byte), ``padding``; FC 6: ``address``, ``value`` (2 bytes);
      responses echo the request;
    * FC 15 request: ``address``, ``count`` (quantity), ``count`` (byte count), one ``value`` over
      all coil bytes; FC 16 request: the same with one ``value`` per register;
      FC 15/16 responses: ``address``, ``count``;
    * exception responses: function code | 0x80 and ``modbus.exception_code``, both
      ``type_code``.

    Args:
        adu: The message bytes.
        request: Client → server (tshark decides this by the TCP port).

    Returns:
        The spans, or ``None`` when the bytes do not have this shape (unsupported function code,
        lengths that disagree with the byte count or the MBAP length).
    """
    if len(adu) < 9 or int.from_bytes(adu[4:6], "big") != len(adu) - 6:
        return None
    fc, n = adu[7], len(adu)
    spans: list[tuple[int, int, str]]
    if fc & 0x80 and not request:
        if fc & 0x7F not in (1, 2, 3, 4, 5, 6, 15, 16) or n != 9:
            return None
        spans = [(8, 9, "type_code")]
    elif fc in (5, 6) or (fc in (1, 2, 3, 4) and request) or (fc in (15, 16) and not request):
        if n != 12:
            return None
        if fc == 5:
            spans = [(8, 10, "address"), (10, 11, "value"), (11, 12, "padding")]
        else:
            spans = [(8, 10, "address"), (10, 12, "value" if fc == 6 else "count")]
    elif fc in (1, 2, 3, 4):  # read responses
        count = adu[8]
        if n != 9 + count or count == 0 or (fc in (3, 4) and count % 2):
            return None
        width = 1 if fc in (1, 2) else 2
        name = "address" if fc in (1, 2) else "value"
        spans = [(8, 9, "count"), *((i, i + width, name) for i in range(9, n, width))]
    elif fc in (15, 16):  # write-multiple requests
        if n < 14 or n != 13 + adu[12] or (fc == 16 and adu[12] % 2):
            return None
        spans = [(8, 10, "address"), (10, 12, "count"), (12, 13, "count")]
        if fc == 15:
            spans.append((13, n, "value"))
        else:
            spans += [(i, i + 2, "value") for i in range(13, n, 2)]
    else:
        return None
    return (*_MBAP_PCAP, *spans)


def modbus_pcap_frame(
    rng: random.Random, fc: int | None = None, kind: str | None = None
) -> LabelledFrame:
    """One random Modbus/TCP ADU labelled by :func:`modbus_pcap_spans` (the capture policy).

    Args:
        rng: Source of randomness (the frame is a pure function of its state).
        fc: Function code (1-6, 15, 16); random when ``None``.
        kind: ``request``, ``response`` or ``exception``; random when ``None``.
    """
    if fc is None:
        fc = rng.choice([1, 2, 3, 3, 3, 4, 4, 5, 6, 15, 16, 16])
    if kind is None:
        kind = rng.choices(["request", "response", "exception"], weights=[4, 5, 1])[0]
    address = rng.choice([rng.randrange(0x100), rng.randrange(0x10000), rng.randrange(0, 10000)])
    if kind == "exception":
        pdu = bytes([fc | 0x80, rng.choice([1, 2, 3, 4, 4, 6, 10, 11])])
    elif fc in (1, 2, 3, 4) and kind == "request":
        quantity = rng.randrange(1, 61) if fc in (3, 4) else rng.randrange(1, 481)
        pdu = struct.pack(">BHH", fc, address, quantity)
    elif fc in (1, 2):  # response: byte count + coil/input bytes
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 61)))
        pdu = struct.pack(">BB", fc, len(data)) + data
    elif fc in (3, 4):  # response: byte count + registers
        regs = register_values(rng, rng.randrange(1, 61))
        pdu = struct.pack(f">BB{len(regs)}H", fc, 2 * len(regs), *regs)
    elif fc == 5:  # request and echo response are identical in shape
        pdu = struct.pack(">BHBB", fc, address, rng.choice([0xFF, 0x00]), 0)
    elif fc == 6:
        pdu = struct.pack(">BHH", fc, address, register_values(rng, 1)[0])
    elif kind == "response":  # 15 / 16: echo of address and quantity
        quantity = rng.randrange(1, 61) if fc == 16 else rng.randrange(1, 481)
        pdu = struct.pack(">BHH", fc, address, quantity)
    elif fc == 15:
        quantity = rng.randrange(1, 481)
        data = bytes(rng.randrange(256) for _ in range((quantity + 7) // 8))
        pdu = struct.pack(">BHHB", fc, address, quantity, len(data)) + data
    else:  # 16 request
        regs = register_values(rng, rng.randrange(1, 61))
        pdu = struct.pack(f">BHHB{len(regs)}H", fc, address, len(regs), 2 * len(regs), *regs)
    tid = rng.choice([rng.randrange(0x10000), rng.randrange(0x100), rng.randrange(0x10)])
    unit = rng.choice([rng.randrange(1, 248), rng.randrange(1, 11), 0xFF, 0, 1])
    adu = struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu
    spans = modbus_pcap_spans(adu, request=kind == "request")
    assert spans is not None, adu.hex()
    return LabelledFrame(adu, spans, "modbus")


def modbus_pcap_style(n: int, seed: int = 0) -> list[LabelledFrame]:
    """``n`` Modbus/TCP frames labelled like the capture dataset (see :func:`modbus_pcap_frame`).

    Deterministic for a given ``seed``. Request and response shapes of FC 1-6, 15, 16 and
    exception responses, unit and transaction ids of every size, 1-60 registers per read.
    """
    rng = random.Random(seed)
    return [modbus_pcap_frame(rng) for _ in range(n)]


def telemetry_frame(rng: random.Random) -> LabelledFrame:
    """One frame of the synthetic telemetry protocol with its field spans."""
    body = bytearray()
    spans: list[tuple[int, int, str]] = [(0, 2, "magic"), (2, 3, "length"), (3, 4, "sensor_id")]
    pos = 4
    for _ in range(rng.randrange(1, 4)):
        value = bytes(rng.randrange(256) for _ in range(rng.choice([1, 2, 4])))
        body += bytes([rng.randrange(1, 16), len(value)]) + value
        spans += [
            (pos, pos + 1, "tag"),
            (pos + 1, pos + 2, "value_length"),
            (pos + 2, pos + 2 + len(value), "value"),
        ]
        pos += 2 + len(value)
    head = b"\xaa\x55" + bytes([len(body) + 1, rng.randrange(256)])
    frame = head + bytes(body)
    spans.append((pos, pos + 2, "checksum"))
    return LabelledFrame(frame + struct.pack("<H", crc16_modbus(frame)), tuple(spans), "telemetry")


#: Messages per grammar when :func:`generate` makes ``procedural`` frames.
PROCEDURAL_PER_GRAMMAR = 20


def _procedural(n: int, seed: int) -> list[LabelledFrame]:
    grammars = -(-n // PROCEDURAL_PER_GRAMMAR)
    return procedural_frames(grammars, PROCEDURAL_PER_GRAMMAR, seed)[:n]


def generate(protocol: str, n: int, seed: int = 0) -> list[LabelledFrame]:
    """``n`` frames of ``protocol``.

    ``modbus``, ``modbus-pcap`` and ``telemetry`` as in the module docstring;
    ``modbus-balanced`` is :func:`engine.datasets.modbus_balanced.modbus_balanced`;
    ``procedural`` is :func:`engine.datasets.procedural.procedural_frames` with
    :data:`PROCEDURAL_PER_GRAMMAR` messages per grammar.
    """
    makers = {
        "modbus": modbus_frame,
        "modbus-pcap": modbus_pcap_frame,
        "telemetry": telemetry_frame,
    }
    corpora = {"modbus-balanced": modbus_balanced, "procedural": _procedural}
    if protocol in corpora:
        return corpora[protocol](n, seed)
    try:
        make = makers[protocol]
    except KeyError:
        raise ValueError(
            f"unknown synthetic protocol {protocol!r}; have {sorted([*makers, *corpora])}"
        ) from None
    rng = random.Random(seed)
    return [make(rng) for _ in range(n)]
