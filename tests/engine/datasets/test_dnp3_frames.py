"""Generated DNP3 frames (``dnp3_frames``): framing, CRCs, shapes, and agreement with tshark."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from engine.datasets.checksums import crc16_dnp
from engine.datasets.dnp3_frames import CHUNK, DNP3_SHAPES, dnp3_frames, dnp3_shape_frame
from engine.datasets.field_types import FIELD_TYPES
from engine.detection.dataset import LabelledFrame, validate_spans

N = 3 * len(DNP3_SHAPES)


@pytest.fixture(scope="module")
def frames() -> list[LabelledFrame]:
    return dnp3_frames(N, seed=11)


def _user_data(frame: bytes) -> bytes:
    """The link frame's user data without chunk CRCs (transport byte first)."""
    body = frame[10:]
    return b"".join(body[i : i + CHUNK + 2][:-2] for i in range(0, len(body), CHUNK + 2))


def test_crc16_dnp_matches_the_standard_check_value_and_a_captured_header() -> None:
    assert crc16_dnp(b"123456789") == 0xEA82  # CRC-16/DNP check value
    # Link header of a response in iti__bro_dnp3.pcap, CRC 7c ae (low byte first).
    assert crc16_dnp(bytes.fromhex("05640a4403000400")).to_bytes(2, "little").hex() == "7cae"


def test_spans_tile_every_frame_with_known_types(frames: list[LabelledFrame]) -> None:
    for f in frames:
        assert validate_spans(f.message, f.spans) == f.spans
        assert f.spans[0][0] == 0 and f.spans[-1][1] == len(f.message)
        assert all(a[1] == b[0] for a, b in zip(f.spans, f.spans[1:], strict=False))
        assert {t for _, _, t in f.spans} <= set(FIELD_TYPES)
        assert f.protocol == "dnp3"


def test_link_header_length_and_every_crc_are_valid(frames: list[LabelledFrame]) -> None:
    for f in frames:
        m = f.message
        assert m[:2] == b"\x05\x64"
        assert int.from_bytes(m[8:10], "little") == crc16_dnp(m[:8])
        user = _user_data(m)
        assert m[2] == 5 + len(user) <= 255
        body = m[10:]
        for i in range(0, len(body), CHUNK + 2):
            chunk = body[i : i + CHUNK + 2]
            assert int.from_bytes(chunk[-2:], "little") == crc16_dnp(chunk[:-2])
        crcs = [s for s in f.spans if s[2] == "checksum"]
        assert len(crcs) == 1 + -(-len(user) // CHUNK)
        # Single fragment: FIR and FIN on the transport byte and the application control.
        assert user[0] & 0xC0 == 0xC0 and user[1] & 0xC0 == 0xC0


def test_seed_determinism() -> None:
    assert dnp3_frames(40, seed=3) == dnp3_frames(40, seed=3)
    assert dnp3_frames(40, seed=3) != dnp3_frames(40, seed=4)


def test_every_shape_has_its_function_code(frames: list[LabelledFrame]) -> None:
    codes = {
        "confirm": 0, "read": 1, "read_class": 1, "write_time": 2, "write_iin": 2, "select": 3,
        "operate": 4, "direct_operate": 5, "direct_operate_nr": 6, "cold_restart": 13,
        "warm_restart": 14, "enable_unsolicited": 20, "disable_unsolicited": 21,
        "delay_measure": 23, "record_time": 24, "unsolicited_events": 0x82,
        "unsolicited_null": 0x82,
    }  # fmt: skip
    assert set(codes) < set(DNP3_SHAPES)
    for i, f in enumerate(frames):
        shape = DNP3_SHAPES[i % len(DNP3_SHAPES)]
        user = _user_data(f.message)
        assert user[2] == codes.get(shape, 0x81), shape
        direction = f.message[3] & 0x80  # DIR: master → outstation
        assert bool(direction) == (user[2] < 0x81), shape
        if user[2] == 0x82:
            assert user[1] & 0x10  # UNS
    with pytest.raises(ValueError):
        dnp3_shape_frame(random.Random(0), "read_file")


def test_multi_chunk_frames_and_fields_cut_by_a_chunk_crc() -> None:
    frames = dnp3_frames(4 * len(DNP3_SHAPES), seed=0)
    sizes = [len(f.message) for f in frames]
    assert sum(61 <= s <= 93 for s in sizes) >= len(frames) // 20
    assert max(sizes) > 200
    # Time fields are 2, 4 or 6 bytes wide, counts and values 1, 2 or 4: other widths are the
    # parts of a field a chunk CRC cuts, which sit right before or after a checksum span.
    cut = set()
    for f in frames:
        for i, (s, e, t) in enumerate(f.spans):
            near_crc = {f.spans[j][2] for j in (i - 1, i + 1) if 0 <= j < len(f.spans)}
            if "checksum" in near_crc and e - s not in {"time": (2, 4, 6)}.get(t, (1, 2, 4)):
                cut.add(t)
    assert {"value", "time", "count"} <= cut


def test_objects_of_the_common_groups_appear() -> None:
    groups = set()
    for f in dnp3_frames(6 * len(DNP3_SHAPES), seed=2):
        # An object's group and variation are one 2-byte type_code span (unless a CRC cuts it).
        groups |= {f.message[s] for s, e, t in f.spans if t == "type_code" and e - s == 2}
    assert {1, 2, 10, 12, 20, 21, 22, 30, 32, 40, 41, 50, 51, 52, 60, 80} <= groups


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_labels_agree_with_the_tshark_labeller(tmp_path: Path) -> None:
    from engine.datasets.dnp3_check import check_frames

    frames = dnp3_frames(2 * len(DNP3_SHAPES), seed=5)
    result, differ = check_frames(frames, tmp_path)
    assert result.labelled == len(frames), result.skipped
    assert result.exact_rate >= 0.99 and result.type_agree >= 0.99, differ[:2]
