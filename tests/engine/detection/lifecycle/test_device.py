"""Device selection: ``cuda`` without a GPU is a clear ConfigError; CPU and GPU agree."""

from __future__ import annotations

import asyncio

import pytest
import torch

from engine.detection.field_detector import FieldDetector, resolve_device
from engine.errors import ConfigError

from ..conftest import tiny_config


def test_cuda_without_gpu_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        FieldDetector(tiny_config(device="cuda"))
    assert resolve_device("auto").type == "cpu"
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_matches_cpu(trained: tuple, frames: list) -> None:
    _, history, _ = trained
    best = history["summary"]["best_checkpoint"]
    cpu = FieldDetector(tiny_config(device="cpu"))
    gpu = FieldDetector(tiny_config(device="cuda"))
    asyncio.run(cpu.load_checkpoint(best))
    asyncio.run(gpu.load_checkpoint(best))
    assert gpu.device.type == "cuda"
    messages = [f.message for f in frames[240:]]
    on_cpu = cpu.detect_boundaries_batch(messages)
    on_gpu = gpu.detect_boundaries_batch(messages)
    for a, b in zip(on_cpu, on_gpu, strict=True):
        assert [(f.start_pos, f.end_pos, f.field_type) for f in a] == [
            (f.start_pos, f.end_pos, f.field_type) for f in b
        ]
        assert [f.confidence for f in a] == pytest.approx([f.confidence for f in b], abs=1e-3)
    scores_cpu, scores_gpu = cpu.evaluate(frames[240:]), gpu.evaluate(frames[240:])
    assert scores_gpu["boundary_f1"] == pytest.approx(scores_cpu["boundary_f1"], abs=1e-3)
    # Training runs on the GPU too, and its checkpoint loads on CPU.
    gpu.train(frames[:60], frames[240:], num_epochs=1)
    assert next(gpu.model.parameters()).is_cuda  # type: ignore[union-attr]
