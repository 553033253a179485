"""PDML parsing and message labelling on saved tshark output (no tshark needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.datasets.field_types import field_type
from engine.datasets.pcap_label import label_message, messages, spec_for
from engine.datasets.pdml import Packet, parse_pdml
from engine.detection.dataset import LabelledFrame, validate_spans

DATA = Path(__file__).parent / "data"
FRAMES = json.loads((DATA / "frames.json").read_text())


def _packet(name: str) -> Packet:
    with open(DATA / f"{name}.pdml", "rb") as fh:
        packets = list(parse_pdml(fh))
    assert len(packets) == 1
    return packets[0]


def _label(name: str, protocol: str, frame: bytes | None = None) -> list[LabelledFrame | str]:
    packet = _packet(name)
    raw = frame if frame is not None else bytes.fromhex(FRAMES[name])
    return [
        label_message(m, raw, protocol, field_type) for m in messages(packet, spec_for(protocol))
    ]


def test_parse_keeps_positions_and_layers() -> None:
    packet = _packet("modbus_two_pdus")
    assert packet.number == 3
    names = [p.name for p in packet.protos]
    assert names.count("mbtcp") == 3 and names.count("modbus") == 3
    trans = next(
        i for i in packet.protos[names.index("mbtcp")].walk() if i.name == "mbtcp.trans_id"
    )
    assert (trans.pos, trans.size, trans.value) == (54, 2, "7cfe")


def test_several_pdus_in_one_segment_are_split() -> None:
    out = _label("modbus_two_pdus", "modbus")
    assert len(out) == 3 and all(isinstance(o, LabelledFrame) for o in out)
    frame = bytes.fromhex(FRAMES["modbus_two_pdus"])
    second = out[1]
    assert isinstance(second, LabelledFrame)
    assert frame.find(second.message) > 54  # a later slice of the same frame
    assert second.spans[:5] == (
        (0, 2, "id"),
        (2, 4, "magic"),
        (4, 6, "length"),
        (6, 7, "id"),
        (7, 8, "type_code"),
    )


def test_spans_tile_and_match_the_bytes() -> None:
    for name, proto in (("modbus_two_pdus", "modbus"), ("dnp3_one", "dnp3")):
        for out in _label(name, proto):
            assert isinstance(out, LabelledFrame)
            validate_spans(out.message, out.spans)
            assert out.spans[0][0] == 0 and out.spans[-1][1] == len(out.message)
            assert all(a[1] == b[0] for a, b in zip(out.spans, out.spans[1:], strict=False))


def test_dnp3_application_layer_is_mapped_back_to_the_frame() -> None:
    (out,) = _label("dnp3_one", "dnp3")
    assert isinstance(out, LabelledFrame)
    # link header 10 bytes, transport byte, AL control, function code, IIN, chunk CRC
    assert out.message.hex() == "05640a44030004007caee6f78210004fbd"
    assert [s[2] for s in out.spans] == [
        "magic",
        "length",
        "flags",
        "address",
        "address",
        "checksum",
        "flags",
        "flags",
        "type_code",
        "flags",
        "checksum",
    ]
    assert out.spans[8] == (12, 13, "type_code")  # AL function code 0x82 at frame offset 66


def test_bytes_from_another_buffer_are_refused() -> None:
    frame = bytearray.fromhex(FRAMES["modbus_two_pdus"])
    frame[55] ^= 0xFF  # the first PDU's transaction id no longer matches tshark's value
    out = _label("modbus_two_pdus", "modbus", bytes(frame))
    assert out[0] == "offset_mismatch"
    assert isinstance(out[1], LabelledFrame)


def test_message_past_the_captured_bytes_is_skipped() -> None:
    frame = bytes.fromhex(FRAMES["dnp3_one"])[:60]
    assert _label("dnp3_one", "dnp3", frame) == ["outside_frame"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("modbus.func_code", "type_code"),
        ("dns.qry.name", "name"),
        ("dnp.data_chunk.CRC", "checksum"),
        ("ntp.xmt", "time"),
        ("dhcp.option.length", "length"),
        ("smb.account", "name"),
        ("modbus.regnum16", None),
        ("something.unheard_of", "value"),
    ],
)
def test_field_type_vocabulary(name: str, expected: str | None) -> None:
    assert field_type(name) == expected


def test_dnp3_fields_across_chunk_crcs_keep_their_own_cuts() -> None:
    # 91-byte unsolicited response: 70 application bytes in five data chunks. Application
    # fields that span a chunk CRC cross their chunk; the chunks must not be pieces, or the
    # crossing rule merges the whole application layer into one span (the old labels).
    (out,) = _label("dnp3_chunks", "dnp3")
    assert isinstance(out, LabelledFrame)
    validate_spans(out.message, out.spans)
    assert len(out.message) == 91
    crcs = [(s, e) for s, e, t in out.spans if t == "checksum"]
    assert crcs == [(8, 10), (26, 28), (44, 46), (62, 64), (80, 82), (89, 91)]
    assert len(out.spans) == 50 and max(e - s for s, e, _ in out.spans) <= 6
    # g51v1 CTO object header (group, variation, qualifier, count) and its 6-byte time
    assert out.spans[9:14] == (
        (13, 15, "flags"),
        (15, 17, "type_code"),
        (17, 18, "type_code"),
        (18, 19, "count"),
        (19, 25, "time"),
    )
    # the object header 0x03 0x28 is cut by the chunk CRC at 26..28: one side each
    assert out.spans[14:17] == ((25, 26, "type_code"), (26, 28, "checksum"), (28, 29, "type_code"))
