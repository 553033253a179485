"""Every public Modbus function code in equal numbers (``modbus_balanced``), checked by tshark."""

from __future__ import annotations

import random
import shutil
import struct
from collections import Counter
from pathlib import Path

import pytest

from engine.datasets.modbus_balanced import (
    MODBUS_FUNCTION_CODES,
    MODBUS_SHAPES,
    modbus_balanced,
    modbus_shape_frame,
)
from engine.datasets.pcap_import import import_capture
from engine.datasets.synthetic import generate
from engine.detection.dataset import LabelledFrame, validate_spans
from tests.engine.datasets.test_pcap_reader import ethernet, pcap

ROUNDS = 4
#: Shapes where the labels depart from tshark on purpose (module docstring): FC 5 value is one
#: 2-byte span; tshark shows register blocks as one ``modbus.data``; FC 17 is one data block.
DEPARTS_FROM_TSHARK = {5, 8, 17, 20, 21, 23, 24}


def _tcp(payload: bytes, sport: int, dport: int, seq: int) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 8192, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0, bytes(4), bytes(4))
    return ethernet(ip + tcp + payload)


def _conversations(frames: list[LabelledFrame]) -> list[tuple[bytes, LabelledFrame]]:
    """Ethernet frames: per function code one TCP connection, request → response → exception.

    Responses take their request's transaction and unit id, so tshark pairs them as it would in
    a capture (it reads some responses by their request).
    """
    out: list[tuple[bytes, LabelledFrame]] = []
    seqs = Counter[tuple[int, bool]]()
    for i in range(0, len(frames), 3):
        req = frames[i]
        fc = req.message[7]
        for j, f in enumerate(frames[i : i + 3]):
            msg = req.message[:2] + f.message[2:6] + req.message[6:7] + f.message[7:]
            to_server = j == 0
            port = 40000 + fc
            sport, dport = (port, 502) if to_server else (502, port)
            out.append((_tcp(msg, sport, dport, 1 + seqs[fc, to_server]), f))
            seqs[fc, to_server] += len(msg)
            if j == 1:  # a second request for the exception to answer
                again = req.message
                out.append((_tcp(again, port, 502, 1 + seqs[fc, True]), req))
                seqs[fc, True] += len(again)
    return out


def test_every_function_code_is_present_in_balanced_numbers() -> None:
    frames = modbus_balanced(len(MODBUS_SHAPES) * ROUNDS, seed=5)
    shapes = Counter[tuple[int, str]]()
    for f, (fc, kind) in zip(frames, MODBUS_SHAPES * ROUNDS, strict=True):
        assert validate_spans(f.message, f.spans) == f.spans
        assert f.spans[0][0] == 0 and f.spans[-1][1] == len(f.message)
        assert all(a[1] == b[0] for a, b in zip(f.spans, f.spans[1:], strict=False))
        assert int.from_bytes(f.message[4:6], "big") == len(f.message) - 6
        assert f.message[7] == (fc | 0x80 if kind == "exception" else fc)
        shapes[fc, kind] += 1
    assert set(shapes.values()) == {ROUNDS}
    assert {fc for fc, _ in shapes} == set(MODBUS_FUNCTION_CODES)
    assert len(MODBUS_FUNCTION_CODES) == 19 and 43 in MODBUS_FUNCTION_CODES


def test_deterministic_by_seed() -> None:
    assert modbus_balanced(120, seed=2) == modbus_balanced(120, seed=2)
    assert modbus_balanced(120, seed=2) != modbus_balanced(120, seed=3)
    assert generate("modbus-balanced", 120, seed=2) == modbus_balanced(120, seed=2)


def test_write_single_coil_value_is_one_two_byte_span() -> None:
    frames = modbus_balanced(len(MODBUS_SHAPES) * 10, seed=1)
    coils = [f for f in frames if f.message[7] == 5]
    assert len(coils) == 20
    for f in coils:
        assert f.spans[5:] == ((8, 10, "address"), (10, 12, "value"))
        assert f.message[10:12] in (b"\xff\x00", b"\x00\x00")


def test_byte_counts_and_lengths_match_the_bytes() -> None:
    rng = random.Random(0)
    for fc in MODBUS_FUNCTION_CODES:
        for _ in range(20):
            f = modbus_shape_frame(rng, fc, "response")
            m = f.message
            if fc in (1, 2, 3, 4, 12, 17, 20, 23):
                assert m[8] == len(m) - 9 and f.spans[5] == (8, 9, "count")
            if fc == 24:
                assert int.from_bytes(m[8:10], "big") == len(m) - 10
                assert int.from_bytes(m[10:12], "big") == (len(m) - 12) // 2
            if fc in (3, 4, 23, 24):  # one value per 16-bit register
                values = [s for s in f.spans if s[2] == "value"]
                assert all(e - s == 2 for s, e, _ in values) and (values or fc == 24)
    with pytest.raises(ValueError, match="no Modbus shape"):
        modbus_shape_frame(rng, 9, "request")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")
def test_tshark_agrees_per_function_code(tmp_path: Path) -> None:
    """tshark labels a sample like the generator, except where the labels depart on purpose."""
    frames = modbus_balanced(len(MODBUS_SHAPES) * ROUNDS, seed=7)
    conv = _conversations(frames)
    path = tmp_path / "balanced.pcap"
    path.write_bytes(pcap([eth for eth, _ in conv]))
    result = import_capture(path, "modbus")
    assert not result.skipped and len(result.frames) == len(conv)
    agree, total = Counter[int](), Counter[int]()
    for got, (_, want) in zip(result.frames, conv, strict=True):
        fc = want.message[7] & 0x7F
        total[fc] += 1
        agree[fc] += got.spans == want.spans
    report = {fc: f"{agree[fc]}/{total[fc]}" for fc in sorted(total)}
    print("tshark agreement per function code:", report)
    for fc in MODBUS_FUNCTION_CODES:
        if fc not in DEPARTS_FROM_TSHARK:
            assert agree[fc] == total[fc], (fc, report)
