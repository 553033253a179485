"""Synthetic labelled frames with exact field spans.

Two protocols, built with ``struct`` from their specifications rather than captured:

* ``modbus``: Modbus/TCP (MBAP header + PDU) requests and responses for function codes 1-6, 15,
  16 and exception responses — the field layout of the Modbus Application Protocol v1.1b3.
* ``telemetry``: a made-up sensor protocol with a magic header, a length byte, a TLV-style body
  and a CRC-16 trailer — different enough from Modbus to test incremental learning.

Every call is deterministic for a given seed.
"""

from __future__ import annotations

import random
import struct

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


def _crc16(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


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
    return LabelledFrame(frame + struct.pack("<H", _crc16(frame)), tuple(spans), "telemetry")


def generate(protocol: str, n: int, seed: int = 0) -> list[LabelledFrame]:
    """``n`` frames of ``protocol`` (``modbus`` or ``telemetry``)."""
    makers = {"modbus": modbus_frame, "telemetry": telemetry_frame}
    try:
        make = makers[protocol]
    except KeyError:
        raise ValueError(
            f"unknown synthetic protocol {protocol!r}; have {sorted(makers)}"
        ) from None
    rng = random.Random(seed)
    return [make(rng) for _ in range(n)]
