"""The operations guide's Field Detector blocks, run as written (``ai_engine`` → ``engine``).

Only the ``...`` placeholders are filled in, and the lines importing the guide's own test suite
are left out (our performance tests live under ``tests/`` and ``bench/``). ``Config()`` is made
small through environment variables, the way an operator would size it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.datasets.synthetic import generate


@pytest.fixture
def guide_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRONOS_DETECTOR__EMBEDDING_DIM", "16")
    monkeypatch.setenv("CRONOS_DETECTOR__HIDDEN_SIZE", "32")
    monkeypatch.setenv("CRONOS_DETECTOR__NUM_LAYERS", "1")
    return tmp_path


def _tuples(protocol: str, n: int, seed: int) -> list:
    return [(f.message, list(f.spans)) for f in generate(protocol, n, seed)]


async def test_field_detector_operations(guide_env: Path) -> None:
    # --- 1. Standard Retraining -------------------------------------------------------
    from engine.core.config import Config
    from engine.detection.field_detector import FieldDetector

    config = Config()
    detector = FieldDetector(config)
    await detector.initialize()

    training_data = [
        (
            b"\x01\x00TEST1234\x00\x00\xff\xff",
            [(0, 2, "header"), (2, 10, "payload"), (10, 14, "checksum")],
        ),
        *_tuples("modbus", 250, 1),
    ]
    validation_data = _tuples("modbus", 80, 2)

    history = detector.train(
        training_data=training_data,
        validation_data=validation_data,
        num_epochs=50,
        learning_rate=1e-3 * 5,
        batch_size=16,
        early_stopping_patience=3,
        save_best_only=True,
        checkpoint_dir="checkpoints/field_detector",
    )
    print(f"Best F1 Score: {history['summary']['best_val_f1']:.4f}")
    print(f"Total Training Time: {history['summary']['total_time_seconds']:.2f}s")
    print("Final Metrics:")
    print(f"  - Precision: {history['val_precision'][-1]:.4f}")
    print(f"  - Recall: {history['val_recall'][-1]:.4f}")
    print(f"  - Accuracy: {history['val_accuracy'][-1]:.4f}")
    assert history["summary"]["best_val_f1"] > 0.9

    # --- 2. Batch/Incremental Training ------------------------------------------------
    batch1_data, batch2_data, batch3_data = (_tuples("modbus", 60, s) for s in (3, 4, 5))
    training_batches = [batch1_data, batch2_data, batch3_data]
    await detector.load_checkpoint(
        "checkpoints/field_detector/field_detector_v1.0.0_latest.pt",
        load_optimizer=True,
        load_scheduler=True,
    )
    history = detector.train_batch(
        training_batches=training_batches,
        validation_data=validation_data,
        num_epochs_per_batch=2,
        learning_rate=1e-4,
        batch_size=16,
    )
    for batch_idx, metrics in enumerate(history["batch_metrics"]):
        print(f"Batch {batch_idx + 1}:")
        print(f"  - Samples: {metrics['samples']}")
        print(f"  - Final Loss: {metrics['final_train_loss']:.4f}")
        print(f"  - Best F1: {metrics['best_val_f1']:.4f}")
    assert [m["samples"] for m in history["batch_metrics"]] == [60, 60, 60]

    # --- 3. Model Checkpointing -------------------------------------------------------
    checkpoint_dir = "checkpoints/field_detector"
    checkpoints = sorted(
        [
            f
            for f in os.listdir(checkpoint_dir)
            if f.endswith(".pt") and not f.endswith("_latest.pt")
        ],
        reverse=True,
    )
    print("Available checkpoints:")
    for ckpt in checkpoints[:5]:
        print(f"  - {ckpt}")
    assert len(checkpoints) >= 2

    # --- 4. Loading Checkpoints ---------------------------------------------------------
    checkpoint_path = os.path.join(checkpoint_dir, checkpoints[0])
    metadata = await detector.load_checkpoint(
        checkpoint_path=checkpoint_path, load_optimizer=False, load_scheduler=False
    )
    print("Loaded checkpoint:")
    print(f"  - Epoch: {metadata['epoch']}")
    print(f"  - Version: {metadata['version']}")
    print(f"  - F1 Score: {metadata['metrics']['f1']:.4f}")
    print(f"  - Timestamp: {metadata['timestamp']}")

    # --- Validation and Testing (manual part) ---------------------------------------------
    test_message = b"\x01\x00TEST1234\x00\x00\xff\xff"
    boundaries = await detector.detect_boundaries(test_message)
    print(f"Detected {len(boundaries)} fields:")
    for i, boundary in enumerate(boundaries):
        print(f"  Field {i + 1}:")
        print(f"    - Position: {boundary.start_pos}-{boundary.end_pos}")
        print(f"    - Type: {boundary.field_type}")
        print(f"    - Confidence: {boundary.confidence:.4f}")
    assert boundaries[-1].end_pos == len(test_message)

    # --- Rollback Scenario 1: previous checkpoint ----------------------------------------
    current_checkpoint = checkpoints[0]
    print(f"Current checkpoint: {current_checkpoint}")
    previous_checkpoint = checkpoints[1]
    print(f"Rolling back to: {previous_checkpoint}")
    detector = FieldDetector(config)
    await detector.initialize()
    metadata = await detector.load_checkpoint(os.path.join(checkpoint_dir, previous_checkpoint))
    print("Rollback successful:")
    print(f"  - Version: {metadata['version']}")
    print(f"  - F1 Score: {metadata['metrics']['f1']:.4f}")
    print(f"  - Epoch: {metadata['epoch']}")
    await detector.save_model(
        os.path.join(checkpoint_dir, f"field_detector_v{metadata['version']}_latest.pt")
    )
    assert previous_checkpoint.startswith(f"field_detector_v{metadata['version']}_epoch")

    # --- Rollback Scenario 2: specific version ------------------------------------------
    target_version = "1.0.0"
    min_f1_score = 0.90
    matching_checkpoints = [
        f
        for f in checkpoints
        if f"v{target_version}" in f and float(f.split("_f1")[1].split("_")[0]) >= min_f1_score
    ]
    assert matching_checkpoints
    rollback_checkpoint = matching_checkpoints[0]
    print(f"Rolling back to: {rollback_checkpoint}")
    await detector.load_checkpoint(os.path.join(checkpoint_dir, rollback_checkpoint))


async def test_rollback_helpers_make_each_scenario_one_call(guide_env: Path) -> None:
    from engine.core.config import Config
    from engine.detection import checkpoint_catalog as checkpoints
    from engine.detection.field_detector import FieldDetector

    detector = FieldDetector(Config())
    ckpt_dir = Path("checkpoints/field_detector")
    detector.train(
        _tuples("modbus", 200, 1),
        _tuples("modbus", 60, 2),
        num_epochs=4,
        learning_rate=5e-3,
        save_best_only=False,
        checkpoint_dir=ckpt_dir,
    )
    detector.train(
        _tuples("modbus", 200, 3),
        _tuples("modbus", 60, 2),
        num_epochs=2,
        learning_rate=5e-3,
        save_best_only=False,
        checkpoint_dir=ckpt_dir,
        version="1.1.0",
    )
    infos = checkpoints.list_checkpoints(ckpt_dir)
    assert infos[0].version == "1.1.0" and infos[0].epoch == 6
    previous = checkpoints.previous_checkpoint(ckpt_dir)
    assert previous == infos[1]
    best_100 = max((i for i in infos if i.version == "1.0.0"), key=lambda i: i.f1)
    found = checkpoints.find_checkpoint(ckpt_dir, "1.0.0", min_f1=best_100.f1)
    assert found is not None and found.version == "1.0.0" and found.f1 >= best_100.f1
    assert checkpoints.find_checkpoint(ckpt_dir, "1.0.0", min_f1=1.01) is None
    meta = await detector.load_checkpoint(found.path)
    assert meta["version"] == "1.0.0"
