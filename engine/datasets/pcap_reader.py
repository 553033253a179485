"""Raw frame bytes from pcap and pcapng files (stdlib only).

tshark's PDML gives every item's offset but not the frame's bytes, so the labeller reads the
frames itself and checks each span against them. Only what a capture file needs for that is
parsed: record boundaries and captured bytes, in file order (frame number ``n`` is index
``n - 1``).
"""

from __future__ import annotations

import struct
from pathlib import Path

from engine.errors import DatasetError

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",  # nanosecond-resolution variant
    b"\xa1\xb2\x3c\x4d": ">",
}
_PCAPNG_SHB = 0x0A0D0D0A
_EPB, _SPB, _OPB = 6, 3, 2


def read_frames(path: str | Path) -> list[bytes]:
    """Every frame's captured bytes, in file order.

    Raises:
        DatasetError: the file is neither pcap nor pcapng, or is truncated.
    """
    data = Path(path).read_bytes()
    if data[:4] in _PCAP_MAGICS:
        return _read_pcap(data, _PCAP_MAGICS[data[:4]], path)
    if len(data) >= 12 and struct.unpack("<I", data[:4])[0] == _PCAPNG_SHB:
        return _read_pcapng(data, path)
    raise DatasetError(f"{path}: not a pcap or pcapng file")


def _read_pcap(data: bytes, endian: str, path: str | Path) -> list[bytes]:
    frames: list[bytes] = []
    off = 24
    while off + 16 <= len(data):
        incl_len = struct.unpack_from(endian + "I", data, off + 8)[0]
        start = off + 16
        if start + incl_len > len(data):
            raise DatasetError(f"{path}: truncated record at byte {off}")
        frames.append(data[start : start + incl_len])
        off = start + incl_len
    return frames


def _read_pcapng(data: bytes, path: str | Path) -> list[bytes]:
    frames: list[bytes] = []
    off, endian = 0, "<"
    while off + 12 <= len(data):
        btype = struct.unpack_from(endian + "I", data, off)[0]
        if btype == _PCAPNG_SHB:
            # Byte-order magic decides the endianness of this section.
            endian = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        blen = struct.unpack_from(endian + "I", data, off + 4)[0]
        if blen < 12 or off + blen > len(data):
            raise DatasetError(f"{path}: truncated pcapng block at byte {off}")
        if btype == _EPB:
            cap = struct.unpack_from(endian + "I", data, off + 20)[0]
            frames.append(data[off + 28 : off + 28 + cap])
        elif btype == _SPB:
            orig = struct.unpack_from(endian + "I", data, off + 8)[0]
            frames.append(data[off + 12 : off + 12 + min(orig, blen - 16)])
        elif btype == _OPB:
            cap = struct.unpack_from(endian + "I", data, off + 16)[0]
            frames.append(data[off + 28 : off + 28 + cap])
        off += blen
    return frames
