"""Replaying a Modbus/TCP capture into ``cronos.frames.raw``, as captured or at full speed.

Reading the capture (link-type and truncation checks, Ethernet/IPv4/TCP decoding, ADU
splitting, capture times) is the engine's (:mod:`engine.translation.pcap` over
:mod:`engine.datasets.pcap_reader`); this module only paces and publishes: it keeps the
original gaps between packets, scaled by ``speed``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.translation.pcap import captured_modbus_adus
from streams.edge.raw_publisher import RawPublisher, frame_headers


@dataclass(frozen=True, slots=True)
class CapturedAdu:
    """One Modbus/TCP ADU of a capture with its capture time (seconds) and direction."""

    ts: float
    direction: str
    adu: bytes


def capture_adus(path: str | Path, port: int = 502) -> Iterator[CapturedAdu]:
    """Yield the Modbus/TCP ADUs to or from ``port`` with their capture times.

    Raises:
        CaptureError: Not a classic pcap file, an unsupported link type, or cut short
            (``engine.datasets.pcap_reader``; also an ``InvalidInputError``).
    """
    for item in captured_modbus_adus(path, port):
        yield CapturedAdu(item.ts, "response" if item.is_response else "request", item.adu)


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
