"""Dynamic int8 quantization: accepted within 0.005 boundary F1, refused beyond, float saved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch

from engine.detection.batching import pad_bytes
from engine.detection.field_detector import FieldDetector
from engine.detection.quantization import QuantizationRefusedError, judge, quantize_model

from ..conftest import tiny_config


@pytest.fixture
def detector(trained: tuple) -> FieldDetector:
    _, history, _ = trained
    d = FieldDetector(tiny_config())
    asyncio.run(d.load_checkpoint(history["summary"]["best_checkpoint"]))
    return d


def test_quantized_model_runs_emissions_and_keeps_crf_float(detector: FieldDetector) -> None:
    model = detector.model
    assert model is not None
    q = quantize_model(model)
    assert type(q.forward_lstms[0]).__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert q.crf.transitions.dtype == torch.float32
    ids, lens = pad_bytes([b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x02"])
    with torch.inference_mode():
        diff = (q.emissions(ids, lens) - model.emissions(ids, lens)).abs().max()
    assert float(diff) < 0.5
    assert type(model.forward_lstms[0]) is torch.nn.LSTM  # the original is untouched


def test_accepted_then_saved_as_float(
    detector: FieldDetector, frames: list, tmp_path: Path
) -> None:
    val = frames[240:]
    report = detector.quantize(val)
    assert report.accepted and report.boundary_f1_drop <= 0.005
    fields = detector.detect_boundaries_batch([val[0].message])[0]
    assert fields[0].start_pos == 0 and fields[-1].end_pos == len(val[0].message)
    asyncio.run(detector.save_model(tmp_path / "q.pt"))
    reloaded = FieldDetector(tiny_config())
    asyncio.run(reloaded.load_checkpoint(tmp_path / "q.pt"))  # float weights, weights_only load
    assert type(reloaded.model.forward_lstms[0]) is torch.nn.LSTM  # type: ignore[union-attr]


def test_refused_keeps_float_inference(detector: FieldDetector, frames: list) -> None:
    with pytest.raises(QuantizationRefusedError, match="refused") as exc:
        detector.quantize(frames[240:], max_boundary_f1_drop=-1.0)
    assert exc.value.report is not None and not exc.value.report.accepted
    assert detector._inference_model is None


def test_judge_threshold() -> None:
    before = {"f1": 0.9, "boundary_f1": 0.95}
    assert judge(before, {"f1": 0.9, "boundary_f1": 0.946}).accepted
    assert not judge(before, {"f1": 0.9, "boundary_f1": 0.944}).accepted
