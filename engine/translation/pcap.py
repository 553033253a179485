"""Minimal reader for classic pcap files carrying Modbus/TCP.

Only what the tests and benchmark need: the classic (non-ng) pcap container, Ethernet II with an
optional 802.1Q tag, IPv4 and TCP. Payloads are returned per TCP segment; one segment may hold
several Modbus ADUs, which :func:`split_mbap` separates using the MBAP length field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InvalidInputError

# Magic numbers for microsecond and nanosecond timestamps, both byte orders.
_MAGIC = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}
_LINKTYPE_ETHERNET = 1
_ETH_IPV4 = 0x0800
_ETH_VLAN = 0x8100
_IP_TCP = 6


@dataclass(frozen=True, slots=True)
class TcpSegment:
    """One TCP payload with the ports it travelled between."""

    src_port: int
    dst_port: int
    payload: bytes


def read_tcp_segments(path: str | Path) -> Iterator[TcpSegment]:
    """Yield the non-empty TCP payloads of a classic pcap file, in capture order.

    Args:
        path: A ``.pcap`` file with Ethernet link type.

    Raises:
        InvalidInputError: The file is not a classic pcap with Ethernet framing.
    """
    data = Path(path).read_bytes()
    if len(data) < 24 or data[:4] not in _MAGIC:
        raise InvalidInputError(f"{path}: not a classic pcap file")
    order = _MAGIC[data[:4]]
    linktype = struct.unpack_from(order + "I", data, 20)[0]
    if linktype != _LINKTYPE_ETHERNET:
        raise InvalidInputError(f"{path}: link type {linktype} is not Ethernet")
    pos = 24
    while pos + 16 <= len(data):
        incl_len = struct.unpack_from(order + "I", data, pos + 8)[0]
        frame = data[pos + 16 : pos + 16 + incl_len]
        pos += 16 + incl_len
        segment = _tcp_payload(frame)
        if segment is not None and segment.payload:
            yield segment


def _tcp_payload(frame: bytes) -> TcpSegment | None:
    if len(frame) < 14:
        return None
    eth_type = struct.unpack_from(">H", frame, 12)[0]
    ip = 14
    if eth_type == _ETH_VLAN and len(frame) >= 18:
        eth_type = struct.unpack_from(">H", frame, 16)[0]
        ip = 18
    if eth_type != _ETH_IPV4 or len(frame) < ip + 20:
        return None
    ihl = (frame[ip] & 0x0F) * 4
    total_len = struct.unpack_from(">H", frame, ip + 2)[0]
    if frame[ip + 9] != _IP_TCP:
        return None
    tcp = ip + ihl
    if len(frame) < tcp + 20:
        return None
    src, dst = struct.unpack_from(">HH", frame, tcp)
    data_offset = (frame[tcp + 12] >> 4) * 4
    # total_len bounds the payload: Ethernet pads short frames to 60 bytes.
    end = min(len(frame), ip + total_len)
    return TcpSegment(src, dst, bytes(frame[tcp + data_offset : end]))


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


def modbus_adus(path: str | Path, port: int = 502) -> Iterator[tuple[bool, bytes]]:
    """Yield ``(is_response, adu)`` for every Modbus/TCP ADU to or from ``port``."""
    for seg in read_tcp_segments(path):
        if port not in (seg.src_port, seg.dst_port):
            continue
        for adu in split_mbap(seg.payload):
            yield seg.src_port == port, adu
