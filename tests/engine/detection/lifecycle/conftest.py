"""A tiny detector trained once per session, for the lifecycle tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.datasets.synthetic import generate
from engine.detection.dataset import LabelledFrame, save_jsonl
from engine.detection.field_detector import FieldDetector

from ..conftest import tiny_config


@pytest.fixture(scope="session")
def frames() -> list[LabelledFrame]:
    return generate("modbus", 300, seed=7)


@pytest.fixture(scope="session")
def data_files(tmp_path_factory: pytest.TempPathFactory, frames: list) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("data")
    save_jsonl(frames[:240], d / "train.jsonl")
    save_jsonl(frames[240:], d / "val.jsonl")
    return {"train": d / "train.jsonl", "val": d / "val.jsonl"}


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, frames: list, data_files: dict[str, Path]
) -> tuple[FieldDetector, dict, Path]:
    """(detector, history, checkpoint dir): 6 epochs from the JSONL files, every epoch saved."""
    ckpt_dir = tmp_path_factory.mktemp("ckpt")
    detector = FieldDetector(tiny_config())
    history = detector.train(
        frames[:240],
        frames[240:],
        num_epochs=6,
        learning_rate=5e-3,
        batch_size=32,
        save_best_only=False,
        checkpoint_dir=ckpt_dir,
        data_files=data_files,
    )
    return detector, history, ckpt_dir
