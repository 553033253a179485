"""The shipped default model loads, passes its checksum and detects held-out Modbus frames."""

from __future__ import annotations

from engine.core.config import Config
from engine.detection.dataset import load_jsonl
from engine.detection.default_model import (
    DEFAULT_MODEL_PATH,
    default_model_path,
    load_default_detector,
)
from engine.detection.scoring import score_spans

SAMPLE = default_model_path().parent / "heldout_modbus_sample.jsonl"


def test_config_default_is_unchanged() -> None:
    assert Config().detector.model_path is None
    assert default_model_path().name == DEFAULT_MODEL_PATH.name


async def test_shipped_model_detects_held_out_modbus() -> None:
    detector = await load_default_detector()  # verifies the .sha256 sidecar
    assert detector.is_ready and "type_code" in detector.field_types
    frames = load_jsonl(SAMPLE)
    assert {f.protocol for f in frames} == {"modbus"} and len(frames) >= 100
    predicted = detector.detect_boundaries_batch([f.message for f in frames])
    spans = [[(b.start_pos, b.end_pos, b.field_type) for b in p] for p in predicted]
    assert score_spans(spans, [f.spans for f in frames])["boundary_f1"] >= 0.95


#: A read-holding-registers (FC 3) response with 10 registers, as ``make run`` shows it; the
#: training captures hold almost no FC 3 traffic, so the model once cut it as
#: type_code[0:1] flags[1:3] length[3:7] … (fixed by the synthetic Modbus frames in training).
FC3_RESPONSE = "00010000001701031403e903ea03eb03ec03ed03ee03ef03f003f103f2"


async def test_shipped_model_tiles_an_fc3_response() -> None:
    detector = await load_default_detector()
    (found,) = detector.detect_boundaries_batch([bytes.fromhex(FC3_RESPONSE)])
    spans = [(b.start_pos, b.end_pos) for b in found]
    registers = [(9 + 2 * i, 11 + 2 * i) for i in range(10)]
    assert spans == [(0, 2), (2, 4), (4, 6), (6, 7), (7, 8), (8, 9), *registers]
    types = [b.field_type for b in found]
    assert types[4:6] == ["type_code", "count"] and set(types[6:]) == {"value"}


#: Write single coil (FC 5), the issue-14 example: ``…05 00ac 0000`` was cut as address +
#: value[10:11] + padding[11:12]; the output value is one 2-byte field (FF00 or 0000).
FC5_REQUESTS = ("000100000006010500acff00", "000100000006010500ac0000", "1a2b00000006110500130000")


async def test_shipped_model_keeps_the_fc5_output_value_whole() -> None:
    detector = await load_default_detector()
    for frame in FC5_REQUESTS:
        (found,) = detector.detect_boundaries_batch([bytes.fromhex(frame)])
        spans = [(b.start_pos, b.end_pos) for b in found]
        assert spans[-3:] == [(7, 8), (8, 10), (10, 12)], frame  # fc, address, output value
        assert [b.field_type for b in found][-3:-1] == ["type_code", "address"], frame
        assert found[-1].field_type != "padding", frame
