"""The one capture reader: link types, truncation, snapped records, byte orders, pcapng.

Every capture is built here with ``struct`` so the edge cases need no committed binaries.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine.datasets.pcap_reader import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    CaptureError,
    TruncatedCaptureError,
    UnsupportedLinkTypeError,
    iter_pcap,
    read_frames,
    tcp_segment,
)
from engine.errors import DatasetError, InvalidInputError
from engine.translation.pcap import captured_modbus_adus, modbus_adus, read_tcp_segments

LE_MICRO = b"\xd4\xc3\xb2\xa1"
BE_NANO = b"\xa1\xb2\x3c\x4d"
IEEE_802_11 = 105
# Two whole Modbus/TCP ADUs (read holding registers request, then a write single register).
ADU_1 = bytes.fromhex("000100000006010300000002")
ADU_2 = bytes.fromhex("000200000006010600010003")


def ipv4_tcp(payload: bytes, src_port: int = 49152, dst_port: int = 502) -> bytes:
    """An IPv4 datagram (no options) carrying one TCP segment (no options)."""
    tcp = struct.pack(">HHIIBBHHH", src_port, dst_port, 1, 0, 5 << 4, 0x18, 8192, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, bytes(4), bytes(4))
    return ip + tcp + payload


def ethernet(datagram: bytes) -> bytes:
    return bytes(6) + bytes(6) + b"\x08\x00" + datagram


def linux_cooked(datagram: bytes) -> bytes:
    return struct.pack(">HHH8sH", 0, 1, 6, bytes(8), 0x0800) + datagram


def pcap(
    frames: list[bytes],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    magic: bytes = LE_MICRO,
    orig_lens: list[int] | None = None,
) -> bytes:
    """A classic pcap file; record ``i`` is stamped ``i + 1`` seconds and 500 µs/ns."""
    order = "<" if magic == LE_MICRO else ">"
    out = magic + struct.pack(order + "HHiIII", 2, 4, 0, 0, 65535, linktype)
    for i, frame in enumerate(frames):
        orig = orig_lens[i] if orig_lens else len(frame)
        out += struct.pack(order + "IIII", i + 1, 500, len(frame), orig) + frame
    return out


def _write(tmp_path: Path, data: bytes, name: str = "c.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_unsupported_link_type_is_refused_by_every_reader(tmp_path: Path) -> None:
    path = _write(tmp_path, pcap([b"\x00" * 40], linktype=IEEE_802_11))
    readers = [
        lambda: list(iter_pcap(path)),
        lambda: read_frames(path),
        lambda: list(read_tcp_segments(path)),
        lambda: list(modbus_adus(path)),
    ]
    for read in readers:
        with pytest.raises(UnsupportedLinkTypeError, match="link type 105 is not supported") as e:
            read()
        assert e.value.linktype == IEEE_802_11
        # Callers that caught either family before the readers merged still do.
        assert isinstance(e.value, DatasetError) and isinstance(e.value, InvalidInputError)


def test_pcapng_interface_with_unsupported_link_type_is_refused(tmp_path: Path) -> None:
    shb = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack("<IIHHII", 1, 20, IEEE_802_11, 0, 65535, 20)
    path = _write(tmp_path, shb + idb, "c.pcapng")
    with pytest.raises(UnsupportedLinkTypeError, match="105"):
        read_frames(path)


def test_pcapng_packets_are_read_and_a_cut_block_is_reported(tmp_path: Path) -> None:
    shb = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack("<IIHHII", 1, 20, LINKTYPE_RAW, 0, 65535, 20)
    frame = ipv4_tcp(ADU_1)  # 52 bytes: a multiple of 4, so no padding
    epb = struct.pack("<IIIIIII", 6, 32 + len(frame), 0, 0, 0, len(frame), len(frame))
    epb += frame + struct.pack("<I", 32 + len(frame))
    path = _write(tmp_path, shb + idb + epb, "c.pcapng")
    assert read_frames(path) == [frame]
    _write(tmp_path, shb + idb + epb[:-10], "c.pcapng")
    with pytest.raises(TruncatedCaptureError, match="pcapng block at byte 48 cut short"):
        read_frames(path)


def test_not_a_capture(tmp_path: Path) -> None:
    path = _write(tmp_path, b"GIF89a" + bytes(40))
    with pytest.raises(CaptureError, match="not a classic pcap file"):
        list(iter_pcap(path))
    with pytest.raises(CaptureError, match="not a pcap or pcapng file"):
        read_frames(path)


def test_cut_file_header(tmp_path: Path) -> None:
    path = _write(tmp_path, pcap([])[:10])
    with pytest.raises(TruncatedCaptureError, match=r"file header cut short \(10 of 24"):
        read_frames(path)


def test_cut_record_body_yields_the_whole_records_then_raises(tmp_path: Path) -> None:
    data = pcap([ethernet(ipv4_tcp(ADU_1)), ethernet(ipv4_tcp(ADU_2))])
    first_end = 24 + 16 + 66
    path = _write(tmp_path, data[:-5])
    records = iter_pcap(path)
    assert next(records).data == ethernet(ipv4_tcp(ADU_1))
    with pytest.raises(TruncatedCaptureError, match=r"cut short \(61 of 66 captured") as e:
        next(records)
    assert e.value.offset == first_end
    with pytest.raises(TruncatedCaptureError):
        read_frames(path)
    with pytest.raises(TruncatedCaptureError):
        list(modbus_adus(path))


def test_cut_record_header(tmp_path: Path) -> None:
    data = pcap([ethernet(ipv4_tcp(ADU_1))])
    path = _write(tmp_path, data + struct.pack("<II", 9, 0))  # 8 of a 16-byte header
    with pytest.raises(TruncatedCaptureError, match=r"record header at byte 106 cut short \(8"):
        read_frames(path)


def test_snapped_record_is_flagged_and_keeps_its_whole_adus(tmp_path: Path) -> None:
    frame = ethernet(ipv4_tcp(ADU_1 + ADU_2))
    snapped = frame[:-4]  # a snap length cut the second ADU
    path = _write(tmp_path, pcap([snapped], orig_lens=[len(frame)]))
    (record,) = iter_pcap(path)
    assert record.snapped and record.orig_len == len(frame) and record.data == snapped
    segment = tcp_segment(record.data, record.linktype)
    assert segment is not None and segment.truncated
    assert segment.payload == (ADU_1 + ADU_2)[:-4]
    assert list(modbus_adus(path)) == [(False, ADU_1)]


def test_ethernet_padding_is_not_payload(tmp_path: Path) -> None:
    frame = ethernet(ipv4_tcp(b"\x01\x02"))
    padded = frame + bytes(60 - len(frame))
    segment = tcp_segment(padded)
    assert segment is not None and segment.payload == b"\x01\x02" and not segment.truncated


@pytest.mark.parametrize(
    ("linktype", "frame"),
    [
        (LINKTYPE_ETHERNET, ethernet(ipv4_tcp(ADU_1))),
        (LINKTYPE_RAW, ipv4_tcp(ADU_1)),
        (LINKTYPE_LINUX_SLL, linux_cooked(ipv4_tcp(ADU_1))),
    ],
)
def test_every_supported_link_type_reaches_the_tcp_payload(
    tmp_path: Path, linktype: int, frame: bytes
) -> None:
    path = _write(tmp_path, pcap([frame], linktype=linktype))
    assert list(modbus_adus(path)) == [(False, ADU_1)]


def test_byte_orders_and_timestamp_resolutions(tmp_path: Path) -> None:
    frames = [ethernet(ipv4_tcp(ADU_1)), ethernet(ipv4_tcp(ADU_2, 502, 49152))]
    micro = _write(tmp_path, pcap(frames), "micro.pcap")
    nano = _write(tmp_path, pcap(frames, magic=BE_NANO), "nano.pcap")
    assert read_frames(micro) == read_frames(nano) == frames
    assert [a.is_response for a in captured_modbus_adus(micro)] == [False, True]
    assert [a.ts for a in captured_modbus_adus(micro)] == pytest.approx([1.0005, 2.0005], abs=1e-9)
    assert [a.ts for a in captured_modbus_adus(nano)] == pytest.approx(
        [1.0000005, 2.0000005], abs=1e-9
    )
