"""The one reader of capture files (stdlib only): pcap and pcapng records, IPv4 and TCP payloads.

Two kinds of caller share it, so that every capture is checked by the same rules:

* the dataset labeller (:mod:`engine.datasets.pcap_import`) needs every frame's captured bytes
  in file order, from pcap or pcapng (:func:`read_frames`; frame number ``n`` is index
  ``n - 1``): tshark's PDML gives each item's offset but not the frame's bytes, so the labeller
  checks each span against these;
* the Modbus readers (:mod:`engine.translation.pcap`, ``streams.edge.pcap_replay``) need each
  record's capture time and TCP payload from classic pcap (:func:`iter_pcap`,
  :func:`iter_tcp_segments`, :func:`tcp_segment`).

What is checked:

* **Container.** Classic pcap in either byte order with micro- or nanosecond timestamps, and
  (for :func:`read_frames`) pcapng. Anything else raises :class:`CaptureError`.
* **Link type.** Only the types in :data:`LINK_TYPES`, whose link header :func:`ip_payload` can
  strip: Ethernet (with one 802.1Q tag), raw IP and Linux cooked (SLL). Any other raises
  :class:`UnsupportedLinkTypeError` naming it: its frames would otherwise be decoded as
  Ethernet and yield garbage, or nothing, without a word.
* **Truncation.** A file header, record header or record body cut short raises
  :class:`TruncatedCaptureError` with the byte offset, rather than dropping the tail silently:
  a capture killed mid-write is worth knowing about, and the labeller's frame count must match
  tshark's.
* **Snapped records** (``caplen < origlen``, e.g. ``tcpdump -s 96``) are kept and reported:
  :attr:`PcapRecord.snapped` on the record, and :attr:`TcpSegment.truncated` when the cut
  falls inside the IPv4 datagram. Only the bytes captured are returned; a caller that needs
  whole messages (the MBAP splitter) drops the partial one at the end.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from engine.errors import DatasetError, InvalidInputError

LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101
LINKTYPE_LINUX_SLL: Final = 113
#: Link types every reader accepts, with the name used in error messages.
LINK_TYPES: Final[dict[int, str]] = {
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
}
IPPROTO_TCP: Final = 6

# Magic → (byte order, seconds per timestamp fraction unit).
_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),  # nanosecond-resolution variant
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAP_HEADER = 24
_RECORD_HEADER = 16
_PCAPNG_SHB = 0x0A0D0D0A
_IDB, _EPB, _SPB, _OPB = 1, 6, 3, 2
_ETH_IPV4 = 0x0800
_ETH_VLAN = 0x8100


class CaptureError(DatasetError, InvalidInputError):
    """A capture file cannot be read: not pcap/pcapng, cut short, or an unsupported link type.

    It is also an :class:`~engine.errors.InvalidInputError` because the Modbus capture readers
    raised that before they shared this reader, and their callers may still catch it.
    """


class UnsupportedLinkTypeError(CaptureError):
    """The capture's link type is not one of :data:`LINK_TYPES`; ``linktype`` holds it."""

    def __init__(self, message: str, linktype: int) -> None:
        super().__init__(message)
        self.linktype = linktype


class TruncatedCaptureError(CaptureError):
    """A header or record of the capture is cut short; ``offset`` is where it starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class PcapRecord:
    """One record of a classic pcap file.

    Attributes:
        ts: Capture time in seconds since the epoch, at the file's resolution.
        data: The captured bytes (``caplen`` of them).
        orig_len: The frame's length on the wire.
        linktype: The file's link type, one of :data:`LINK_TYPES`.
    """

    ts: float
    data: bytes
    orig_len: int
    linktype: int

    @property
    def snapped(self) -> bool:
        """Whether fewer bytes were captured than were on the wire (a snap length cut it)."""
        return len(self.data) < self.orig_len


@dataclass(frozen=True, slots=True)
class IpPayload:
    """What an IPv4 datagram carries.

    Attributes:
        protocol: The IP protocol number (6 for TCP).
        payload: The bytes after the IPv4 header, bounded by the header's total length.
        truncated: The frame holds fewer bytes than the total length says (a snapped record).
    """

    protocol: int
    payload: bytes
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class TcpSegment:
    """One TCP payload with the ports it travelled between.

    Attributes:
        src_port: Source port.
        dst_port: Destination port.
        payload: The bytes after the TCP header.
        truncated: The datagram was cut by the capture's snap length, so ``payload`` is only
            its start.
    """

    src_port: int
    dst_port: int
    payload: bytes
    truncated: bool = False


def _check_linktype(linktype: int, path: str | Path) -> int:
    """Return ``linktype`` if it is one of :data:`LINK_TYPES`.

    Raises:
        UnsupportedLinkTypeError: It is not; the message names it and the supported ones.
    """
    if linktype not in LINK_TYPES:
        supported = ", ".join(f"{k} ({v})" for k, v in LINK_TYPES.items())
        raise UnsupportedLinkTypeError(
            f"{path}: link type {linktype} is not supported (supported: {supported})", linktype
        )
    return linktype


def iter_pcap(path: str | Path) -> Iterator[PcapRecord]:
    """Yield the records of a classic pcap file, in file order.

    Args:
        path: A classic (not pcapng) pcap file.

    Raises:
        CaptureError: The file is not a classic pcap file.
        UnsupportedLinkTypeError: Its link type is not one of :data:`LINK_TYPES`.
        TruncatedCaptureError: The file header, a record header or a record body is cut short
            (raised when the reader gets there, after the whole records before it).
    """
    data = Path(path).read_bytes()
    if data[:4] not in _PCAP_MAGICS:
        raise CaptureError(f"{path}: not a classic pcap file")
    yield from _pcap_records(data, path)


def read_frames(path: str | Path) -> list[bytes]:
    """Every frame's captured bytes, in file order, from a pcap or pcapng file.

    Raises:
        CaptureError: The file is neither pcap nor pcapng.
        UnsupportedLinkTypeError: The file (or one of its pcapng interfaces) has a link type
            that is not one of :data:`LINK_TYPES`.
        TruncatedCaptureError: A header, record or block is cut short.
    """
    data = Path(path).read_bytes()
    if data[:4] in _PCAP_MAGICS:
        return [record.data for record in _pcap_records(data, path)]
    if len(data) >= 12 and struct.unpack("<I", data[:4])[0] == _PCAPNG_SHB:
        return _pcapng_frames(data, path)
    raise CaptureError(f"{path}: not a pcap or pcapng file")


def ip_payload(frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> IpPayload | None:
    """The payload of the IPv4 datagram in a frame; ``None`` if the frame carries none.

    Frames that are not IPv4, whose IPv4 header is cut short or malformed, or that are a
    non-first fragment (no transport header) give ``None``.

    Args:
        frame: A record's captured bytes.
        linktype: The capture's link type, one of :data:`LINK_TYPES`.

    Raises:
        UnsupportedLinkTypeError: ``linktype`` is not one of :data:`LINK_TYPES`.
    """
    ip = _ipv4_offset(frame, linktype)
    if ip is None or len(frame) < ip + 20 or frame[ip] >> 4 != 4:
        return None
    ihl = (frame[ip] & 0x0F) * 4
    total_len = struct.unpack_from(">H", frame, ip + 2)[0]
    fragment_offset = struct.unpack_from(">H", frame, ip + 6)[0] & 0x1FFF
    if ihl < 20 or total_len < ihl or fragment_offset:
        return None
    # total_len bounds the payload: Ethernet pads short frames to 60 bytes (and may keep the
    # FCS); a snapped frame holds less than it says.
    end = ip + total_len
    return IpPayload(frame[ip + 9], bytes(frame[ip + ihl : end]), truncated=end > len(frame))


def tcp_segment(frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> TcpSegment | None:
    """The TCP segment in a frame (ports and payload); ``None`` if the frame carries none.

    Args:
        frame: Captured bytes of one record; :func:`ip_payload` finds the datagram in it.
        linktype: As for :func:`ip_payload` (which raises for an unsupported one).
    """
    ip = ip_payload(frame, linktype)
    if ip is None or ip.protocol != IPPROTO_TCP or len(ip.payload) < 20:
        return None
    src, dst = struct.unpack_from(">HH", ip.payload, 0)
    data_offset = (ip.payload[12] >> 4) * 4
    return TcpSegment(src, dst, ip.payload[data_offset:], ip.truncated)


def iter_tcp_segments(path: str | Path) -> Iterator[tuple[PcapRecord, TcpSegment]]:
    """Yield every record of a classic pcap file with a non-empty TCP payload, and the segment.

    Raises:
        CaptureError: As :func:`iter_pcap`.
    """
    for record in iter_pcap(path):
        segment = tcp_segment(record.data, record.linktype)
        if segment is not None and segment.payload:
            yield record, segment


def _pcap_records(data: bytes, path: str | Path) -> Iterator[PcapRecord]:
    endian, frac = _PCAP_MAGICS[data[:4]]
    if len(data) < _PCAP_HEADER:
        raise TruncatedCaptureError(
            f"{path}: pcap file header cut short ({len(data)} of {_PCAP_HEADER} bytes)", 0
        )
    # The low 16 bits are the link type; the high ones may hold FCS flags (pcap spec).
    linktype = _check_linktype(struct.unpack_from(endian + "I", data, 20)[0] & 0xFFFF, path)
    off = _PCAP_HEADER
    while off < len(data):
        if off + _RECORD_HEADER > len(data):
            raise TruncatedCaptureError(
                f"{path}: record header at byte {off} cut short "
                f"({len(data) - off} of {_RECORD_HEADER} bytes)",
                off,
            )
        sec, sub, caplen, orig_len = struct.unpack_from(endian + "IIII", data, off)
        start = off + _RECORD_HEADER
        if start + caplen > len(data):
            raise TruncatedCaptureError(
                f"{path}: record at byte {off} cut short "
                f"({len(data) - start} of {caplen} captured bytes)",
                off,
            )
        yield PcapRecord(sec + sub * frac, data[start : start + caplen], orig_len, linktype)
        off = start + caplen


def _pcapng_frames(data: bytes, path: str | Path) -> list[bytes]:
    frames: list[bytes] = []
    off, endian = 0, "<"
    while off < len(data):
        if off + 12 > len(data):
            raise TruncatedCaptureError(f"{path}: pcapng block at byte {off} cut short", off)
        btype = struct.unpack_from(endian + "I", data, off)[0]
        if btype == _PCAPNG_SHB:
            # Byte-order magic decides the endianness of this section.
            endian = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack_from(endian + "I", data, off + 4)[0]
        if blen < 12 or off + blen > len(data):
            raise TruncatedCaptureError(f"{path}: pcapng block at byte {off} cut short", off)
        if btype == _IDB:
            _check_linktype(struct.unpack_from(endian + "H", data, off + 8)[0], path)
        elif btype in (_EPB, _OPB):
            # Both keep the captured length at +20 and the packet at +28, before options and
            # the trailing block length.
            cap = struct.unpack_from(endian + "I", data, off + 20)[0]
            if 28 + cap > blen - 4:
                raise TruncatedCaptureError(
                    f"{path}: packet of {cap} bytes overruns its pcapng block at byte {off}", off
                )
            frames.append(data[off + 28 : off + 28 + cap])
        elif btype == _SPB:
            orig = struct.unpack_from(endian + "I", data, off + 8)[0]
            frames.append(data[off + 12 : off + 12 + min(orig, blen - 16)])
        off += blen
    return frames


def _ipv4_offset(frame: bytes, linktype: int) -> int | None:
    """Where the IPv4 header starts in a frame of ``linktype``; ``None`` if it carries none."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        eth_type, ip = struct.unpack_from(">H", frame, 12)[0], 14
        if eth_type == _ETH_VLAN and len(frame) >= 18:
            eth_type, ip = struct.unpack_from(">H", frame, 16)[0], 18
        return ip if eth_type == _ETH_IPV4 else None
    if linktype == LINKTYPE_LINUX_SLL:
        # 16-byte cooked header; the protocol (an EtherType) is its last two bytes.
        if len(frame) < 16:
            return None
        return 16 if struct.unpack_from(">H", frame, 14)[0] == _ETH_IPV4 else None
    if linktype == LINKTYPE_RAW:
        return 0
    raise UnsupportedLinkTypeError(f"link type {linktype} is not supported", linktype)
