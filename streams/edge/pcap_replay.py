"""Replaying a Modbus/TCP capture into ``cronos.frames.raw``, as captured or at full speed.

The Ethernet/IPv4/TCP decoding and ADU splitting are the engine's
(:mod:`engine.translation.pcap`); this module only adds what the engine reader leaves out: each
packet's capture time, so the replay can keep the original gaps (scaled by ``speed``).
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidInputError
from engine.translation.pcap import _MAGIC, _tcp_payload, split_mbap
from streams.edge.raw_publisher import RawPublisher, frame_headers

_NANO_MAGICS = (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


@dataclass(frozen=True, slots=True)
class CapturedAdu:
    """One Modbus/TCP ADU of a capture with its capture time (seconds) and direction."""

    ts: float
    direction: str
    adu: bytes


def capture_adus(path: str | Path, port: int = 502) -> Iterator[CapturedAdu]:
    """Yield the Modbus/TCP ADUs to or from ``port`` with their capture times.

    Raises:
        InvalidInputError: Not a classic pcap file (the engine reader's rules).
    """
    data = Path(path).read_bytes()
    if len(data) < 24 or data[:4] not in _MAGIC:
        raise InvalidInputError(f"{path}: not a classic pcap file")
    order = _MAGIC[data[:4]]
    frac = 1e-9 if data[:4] in _NANO_MAGICS else 1e-6
    pos = 24
    while pos + 16 <= len(data):
        sec, sub, incl_len = struct.unpack_from(order + "III", data, pos)
        frame = data[pos + 16 : pos + 16 + incl_len]
        pos += 16 + incl_len
        seg = _tcp_payload(frame)
        if seg is None or not seg.payload or port not in (seg.src_port, seg.dst_port):
            continue
        direction = "response" if seg.src_port == port else "request"
        for adu in split_mbap(seg.payload):
            yield CapturedAdu(sec + sub * frac, direction, adu)


async def replay(
    path: str | Path,
    publisher: RawPublisher,
    *,
    speed: float | None = 1.0,
    port: int = 502,
    source: str | None = None,
    target: str | None = "mqtt",
) -> int:
    """Publish every ADU of a capture; return how many were published (and acknowledged).

    Args:
        path: A classic pcap file.
        publisher: A started :class:`RawPublisher`.
        speed: 1.0 keeps the captured timing, 2.0 plays twice as fast; ``None`` plays as fast
            as possible.
        port: The Modbus server port in the capture.
        source: ``source`` header and key; default ``pcap:<file name>``.
        target: ``target`` header for register-read responses (FC 3/4); ``None`` for none.
    """
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    source = source or f"pcap:{Path(path).name}"
    key = source.encode()
    start_wall = time.monotonic()
    first_ts: float | None = None
    count = 0
    for item in capture_adus(path, port):
        if speed is not None:
            first_ts = item.ts if first_ts is None else first_ts
            delay = start_wall + (item.ts - first_ts) / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        translate = item.direction == "response" and len(item.adu) > 7 and item.adu[7] in (3, 4)
        headers = frame_headers(
            protocol="modbus",
            source=source,
            direction=item.direction,
            frame_id=publisher.next_frame_id(source),
            target=target if translate else None,
        )
        await publisher.publish(key, item.adu, headers)
        count += 1
    await publisher.flush()
    return count
