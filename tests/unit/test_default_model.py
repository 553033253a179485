"""The shipped default model loads, passes its checksum and detects held-out Modbus frames."""

from __future__ import annotations

import pytest

from engine.core.config import Config
from engine.detection.dataset import load_jsonl
from engine.detection.default_model import (
    DEFAULT_MODEL_PATH,
    default_model_path,
    load_default_detector,
)
from engine.detection.metrics import score_spans

SAMPLE = default_model_path().parent / "heldout_modbus_sample.jsonl"


def test_config_default_is_unchanged() -> None:
    assert Config().detector.model_path is None
    assert default_model_path().name == DEFAULT_MODEL_PATH.name


@pytest.mark.skipif(not default_model_path().is_file(), reason="run `make model`")
async def test_shipped_model_detects_held_out_modbus() -> None:
    detector = await load_default_detector()  # verifies the .sha256 sidecar
    assert detector.is_ready and "type_code" in detector.field_types
    frames = load_jsonl(SAMPLE)
    assert {f.protocol for f in frames} == {"modbus"} and len(frames) >= 100
    predicted = detector.detect_boundaries_batch([f.message for f in frames])
    spans = [[(b.start_pos, b.end_pos, b.field_type) for b in p] for p in predicted]
    assert score_spans(spans, [f.spans for f in frames])["boundary_f1"] >= 0.95
