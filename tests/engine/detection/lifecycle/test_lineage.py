"""Lineage in checkpoints and rule files, and ``cronos checkpoints show``."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import orjson

from engine.artifacts import write_with_sidecar
from engine.detection.checkpoint import load_checkpoint_payload, save_checkpoint
from engine.detection.field_detector import FieldDetector
from engine.detection.lineage import canonical_frames_sha256
from engine.translation import store
from tests.engine.translation.conftest import hand_rules
from tests.support.cli import cli

from ..conftest import tiny_config


def test_checkpoint_records_files_code_libraries_parameters(
    trained: tuple, data_files: dict[str, Path], frames: list
) -> None:
    _, history, _ = trained
    meta = asyncio.run(
        FieldDetector(tiny_config()).load_checkpoint(history["summary"]["best_checkpoint"])
    )
    lineage = meta["lineage"]
    train = lineage["datasets"]["train"]
    assert train["source"] == "file" and train["path"] == str(data_files["train"])
    assert train["sha256"] == hashlib.sha256(data_files["train"].read_bytes()).hexdigest()
    assert train["rows"] == 240 and lineage["datasets"]["val"]["rows"] == 60
    # The file and the same frames in memory hash alike (canonical JSON-lines form).
    assert train["content_sha256"] == canonical_frames_sha256(frames[:240])[0]
    assert lineage["code"]["package"] == "cronos-pipeline"
    assert lineage["code"]["package_version"]
    assert {"python", "torch", "pytorch-crf", "numpy"} <= set(lineage["libraries"])
    params = lineage["parameters"]
    assert params["learning_rate"] == 5e-3 and params["batch_size"] == 32
    assert params["settings"]["hidden_size"] == 32 and params["device"] == "cpu"


def test_in_memory_data_and_resumed_parent(trained: tuple, frames: list, tmp_path: Path) -> None:
    _, history, _ = trained
    detector = FieldDetector(tiny_config())
    best = history["summary"]["best_checkpoint"]
    asyncio.run(detector.load_checkpoint(best))
    detector.train(frames[:60], frames[240:], num_epochs=1, learning_rate=1e-3)
    asyncio.run(detector.save_model(tmp_path / "tuned.pt"))
    lineage = load_checkpoint_payload(tmp_path / "tuned.pt")["lineage"]
    train = lineage["datasets"]["train"]
    assert train == {
        "source": "memory",
        "rows": 60,
        "content_sha256": canonical_frames_sha256(frames[:60])[0],
    }
    assert lineage["parent"]["path"] == best and len(lineage["parent"]["sha256"]) == 64


def test_old_checkpoint_without_lineage_loads(trained: tuple, tmp_path: Path) -> None:
    _, history, _ = trained
    payload = load_checkpoint_payload(history["summary"]["best_checkpoint"])
    for key in ("lineage", "format_version", "kind"):
        payload.pop(key)
    save_checkpoint(tmp_path / "old.pt", payload)
    meta = asyncio.run(FieldDetector(tiny_config()).load_checkpoint(tmp_path / "old.pt"))
    assert meta["lineage"] == {}


def test_rules_file_lineage_is_optional(tmp_path: Path) -> None:
    path = store.save(hand_rules(), tmp_path, "1.0.0")
    lineage = store.load_lineage(path)
    assert lineage is not None and lineage["datasets"]["test_cases"]["rows"] >= 0
    assert lineage["parameters"]["pair"] == "modbus->mqtt"
    # A file written before lineage existed (no key) still loads.
    doc = orjson.loads(path.read_bytes())
    doc.pop("lineage")
    write_with_sidecar(path, orjson.dumps(doc))
    assert store.load(path).version == "1.0.0" and store.load_lineage(path) is None


def test_show_prints_lineage_and_no_history(trained: tuple, data_files: dict[str, Path]) -> None:
    _, _, ckpt_dir = trained
    result = cli("checkpoints", "show", "1.0.0", "--dir", str(ckpt_dir))
    assert result.exit_code == 0, result.output
    out = result.output
    digest = hashlib.sha256(data_files["train"].read_bytes()).hexdigest()
    assert digest in out and "git_commit" in out and "torch" in out
    assert "learning_rate" in out and "settings.hidden_size" in out
    assert "no control history available" in out
    missing = cli("checkpoints", "show", "9.9.9", "--dir", str(ckpt_dir))
    assert missing.exit_code == 2 and "no field_detector artifact" in missing.output


def test_show_rules(tmp_path: Path) -> None:
    store.save(hand_rules(), tmp_path, "1.2.0")
    result = cli(
        "checkpoints", "show", "1.2.0", "--dir", str(tmp_path), "--component", "translation_rules"
    )
    assert result.exit_code == 0, result.output
    assert "modbus->mqtt" in result.output and "test_cases" in result.output
