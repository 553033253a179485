"""Modbus/TCP ADUs out of classic pcap files.

Reading the file, the link-type and truncation checks and the IPv4/TCP decoding are
:mod:`engine.datasets.pcap_reader`'s (Ethernet with an optional 802.1Q tag, raw IP or Linux
cooked framing; IPv4; TCP). This module adds the Modbus part: payloads come per TCP segment and
one segment may hold several ADUs, which :func:`split_mbap` separates using the MBAP length
field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.datasets.pcap_reader import TcpSegment, iter_tcp_segments

__all__ = [
    "CapturedModbusAdu",
    "TcpSegment",
    "captured_modbus_adus",
    "modbus_adus",
    "read_tcp_segments",
    "split_mbap",
]


@dataclass(frozen=True, slots=True)
class CapturedModbusAdu:
    """One Modbus/TCP ADU of a capture.

    Attributes:
        ts: Capture time of the packet that carried it, seconds since the epoch.
        is_response: Sent from the server port (a response), not to it.
        adu: MBAP header and PDU.
    """

    ts: float
    is_response: bool
    adu: bytes


def read_tcp_segments(path: str | Path) -> Iterator[TcpSegment]:
    """Yield the non-empty TCP payloads of a classic pcap file, in capture order.

    Args:
        path: A ``.pcap`` file (link types: see ``engine.datasets.pcap_reader.LINK_TYPES``).

    Raises:
        CaptureError: Not a classic pcap file, an unsupported link type, or cut short
            (``engine.datasets.pcap_reader``; also an ``InvalidInputError``).
    """
    for _, segment in iter_tcp_segments(path):
        yield segment


def split_mbap(payload: bytes) -> list[bytes]:
    """Split a TCP payload into whole Modbus/TCP ADUs; a trailing partial ADU is dropped."""
    adus: list[bytes] = []
    pos = 0
    while pos + 7 <= len(payload):
        length = struct.unpack_from(">H", payload, pos + 4)[0]
        end = pos + 6 + length
        if length < 2 or end > len(payload):
            break
        adus.append(payload[pos:end])
        pos = end
    return adus


def captured_modbus_adus(path: str | Path, port: int = 502) -> Iterator[CapturedModbusAdu]:
    """Yield every Modbus/TCP ADU to or from ``port`` with its capture time, in capture order.

    A segment cut by the capture's snap length keeps its whole ADUs; the cut one is dropped.

    Raises:
        CaptureError: As :func:`read_tcp_segments`.
    """
    for record, seg in iter_tcp_segments(path):
        if port not in (seg.src_port, seg.dst_port):
            continue
        for adu in split_mbap(seg.payload):
            yield CapturedModbusAdu(record.ts, seg.src_port == port, adu)


def modbus_adus(path: str | Path, port: int = 502) -> Iterator[tuple[bool, bytes]]:
    """Yield ``(is_response, adu)`` for every Modbus/TCP ADU to or from ``port``."""
    for item in captured_modbus_adus(path, port):
        yield item.is_response, item.adu
