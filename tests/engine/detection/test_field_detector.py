"""Learned behaviour, history contents, input checks and incremental training."""

from __future__ import annotations

import itertools

import pytest

from engine.datasets.synthetic import generate
from engine.detection.dataset import LabelledFrame
from engine.detection.field_detector import FieldDetector
from engine.errors import DatasetError, InvalidInputError, ModelNotReadyError

from .conftest import small_config

HISTORY_KEYS = [
    "train_loss",
    "val_loss",
    "val_precision",
    "val_recall",
    "val_f1",
    "val_accuracy",
    "val_boundary_precision",
    "val_boundary_recall",
    "val_boundary_f1",
]


def test_history_has_every_metric_per_epoch(trained: tuple) -> None:
    _, history, _ = trained
    epochs = history["summary"]["epochs_run"]
    for key in HISTORY_KEYS:
        assert len(history[key]) == epochs, key
    summary = history["summary"]
    assert summary["best_val_f1"] == max(history["val_f1"])
    assert history["val_f1"][summary["best_epoch"] - 1] == summary["best_val_f1"]
    assert summary["total_time_seconds"] > 0
    assert history["train_loss"][-1] < history["train_loss"][0]


async def test_learns_held_out_modbus(trained: tuple) -> None:
    detector, _, _ = trained
    held_out = generate("modbus", 200, seed=99)
    scores = detector.evaluate(held_out)
    assert scores["f1"] > 0.9
    assert scores["boundary_f1"] > 0.95
    frame = held_out[0]
    fields = await detector.detect_boundaries(frame.message)
    # Fields tile the message and carry probabilities.
    assert fields[0].start_pos == 0 and fields[-1].end_pos == len(frame.message)
    assert all(a.end_pos == b.start_pos for a, b in itertools.pairwise(fields))
    assert all(0.0 <= f.confidence <= 1.0 for f in fields)


def test_batch_api_keeps_order_and_matches_single_calls(trained: tuple) -> None:
    detector, _, _ = trained
    frames = generate("modbus", 40, seed=5)
    msgs = [f.message for f in frames]
    batched = detector.detect_boundaries_batch(msgs)
    for m, fields in zip(msgs, batched, strict=True):
        single = detector.detect_boundaries_batch([m])[0]
        assert [(f.start_pos, f.end_pos, f.field_type) for f in fields] == [
            (f.start_pos, f.end_pos, f.field_type) for f in single
        ]
        for a, b in zip(fields, single, strict=True):
            assert a.confidence == pytest.approx(b.confidence, abs=1e-5)


async def test_bad_input_is_refused(trained: tuple) -> None:
    detector, _, _ = trained
    with pytest.raises(InvalidInputError, match="empty"):
        await detector.detect_boundaries(b"")
    with pytest.raises(InvalidInputError, match="expected bytes"):
        await detector.detect_boundaries("0102")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="cap"):
        await detector.detect_boundaries(b"\x00" * (64 * 1024 + 1))
    with pytest.raises(InvalidInputError, match=r"messages\[1\]"):
        detector.detect_boundaries_batch([b"\x01", b""])


async def test_untrained_detector_says_so() -> None:
    detector = FieldDetector(small_config())
    await detector.initialize()
    with pytest.raises(ModelNotReadyError):
        await detector.detect_boundaries(b"\x01\x02")


def test_training_refuses_bad_data() -> None:
    detector = FieldDetector(small_config())
    with pytest.raises(DatasetError, match=r"training_data\[1\]"):
        detector.train(
            [(b"\x01\x02", [(0, 2, "a")]), (b"\x01", [(0, 3, "a")])],
            [(b"\x01", [(0, 1, "a")])],
            num_epochs=1,
        )
    with pytest.raises(DatasetError, match="non-empty"):
        detector.train([(b"\x01", [(0, 1, "a")])], [], num_epochs=1)


def _f1_on(detector: FieldDetector, frames: list[LabelledFrame]) -> float:
    return detector.evaluate(frames)["f1"]


def test_incremental_training_does_not_forget() -> None:
    """After a batch of a second protocol, F1 on the first stays within 0.02 (replay)."""
    detector = FieldDetector(small_config(replay_size=300))
    modbus, telemetry = generate("modbus", 300, seed=11), generate("telemetry", 300, seed=12)
    modbus_val, telemetry_val = generate("modbus", 120, seed=13), generate("telemetry", 120, 14)
    history = detector.train_batch(
        [modbus], modbus_val, num_epochs_per_batch=10, learning_rate=5e-3, batch_size=32
    )
    before = _f1_on(detector, modbus_val)
    assert before > 0.9
    history = detector.train_batch(
        [telemetry],
        modbus_val + telemetry_val,
        num_epochs_per_batch=10,
        learning_rate=5e-3,
        batch_size=32,
    )
    metrics = history["batch_metrics"][0]
    assert metrics["samples"] == 300 and metrics["replayed"] == 300
    assert metrics["final_train_loss"] > 0 and 0 <= metrics["best_val_f1"] <= 1
    assert _f1_on(detector, telemetry_val) > 0.9  # it learned the new protocol
    after = _f1_on(detector, modbus_val)
    assert after >= before - 0.02, (before, after)
    assert {"magic", "checksum"} <= set(detector.field_types)
