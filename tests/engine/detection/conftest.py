"""A small detector trained once per session on synthetic Modbus/TCP frames."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.core.config import Config, DetectorSettings
from engine.datasets.synthetic import generate
from engine.detection.dataset import LabelledFrame
from engine.detection.field_detector import FieldDetector

SMALL = DetectorSettings(embedding_dim=16, hidden_size=32, num_layers=1, replay_size=300)


TINY = DetectorSettings(embedding_dim=16, hidden_size=32, num_layers=1, device="cpu")


def small_config(**overrides: object) -> Config:
    return Config(detector=SMALL.model_copy(update=overrides))


def tiny_config(**overrides: object) -> Config:
    """The lifecycle tests' detector: no replay buffer override, always on the CPU."""
    return Config(detector=TINY.model_copy(update=overrides))


@pytest.fixture(scope="session")
def modbus_train() -> list[LabelledFrame]:
    return generate("modbus", 400, seed=1)


@pytest.fixture(scope="session")
def modbus_val() -> list[LabelledFrame]:
    return generate("modbus", 150, seed=2)


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    modbus_train: list[LabelledFrame],
    modbus_val: list[LabelledFrame],
) -> tuple[FieldDetector, dict, Path]:
    """(detector, history, checkpoint_dir) after a short training run."""
    ckpt_dir = tmp_path_factory.mktemp("ckpt")
    detector = FieldDetector(small_config())
    asyncio.run(detector.initialize())
    history = detector.train(
        [(f.message, list(f.spans)) for f in modbus_train],
        modbus_val,
        num_epochs=10,
        learning_rate=5e-3,
        batch_size=32,
        early_stopping_patience=3,
        save_best_only=False,
        checkpoint_dir=ckpt_dir,
    )
    return detector, history, ckpt_dir
