"""Save/load round trips and every refusal, each leaving the loaded model unchanged."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from engine.artifacts import sidecar_path, write_with_sidecar
from engine.datasets.synthetic import generate
from engine.detection import checkpoint_catalog as checkpoints
from engine.detection.checkpoint import save_checkpoint
from engine.detection.field_detector import FieldDetector
from engine.errors import (
    CheckpointError,
    ChecksumMismatchError,
    IncompatibleCheckpointError,
)

from .conftest import small_config


def _outputs(detector: FieldDetector) -> list:
    msgs = [f.message for f in generate("modbus", 10, seed=21)]
    return [
        [(b.start_pos, b.end_pos, b.field_type, round(b.confidence, 5)) for b in fields]
        for fields in detector.detect_boundaries_batch(msgs)
    ]


async def test_save_load_gives_same_outputs(trained: tuple, tmp_path: Path) -> None:
    detector, _, _ = trained
    path = await detector.save_model(tmp_path / "field_detector_v1.0.0_latest.pt")
    assert sidecar_path(path).exists()
    fresh = FieldDetector(small_config())
    await fresh.initialize()
    meta = await fresh.load_checkpoint(path)
    assert meta["version"] == "1.0.0"
    assert meta["metrics"]["f1"] == pytest.approx(detector.metrics["f1"])
    assert _outputs(fresh) == _outputs(detector)


async def test_epoch_checkpoints_are_named_and_loadable(trained: tuple) -> None:
    _, history, ckpt_dir = trained
    names = sorted(p.name for p in ckpt_dir.glob("*.pt"))
    assert "field_detector_v1.0.0_latest.pt" in names
    infos = checkpoints.list_checkpoints(ckpt_dir)
    assert len(infos) == history["summary"]["epochs_run"]  # save_best_only=False
    best = Path(history["summary"]["best_checkpoint"])
    info = checkpoints.parse_checkpoint_name(best)
    assert info is not None and info.f1 == pytest.approx(
        history["summary"]["best_val_f1"], abs=1e-4
    )
    fresh = FieldDetector(small_config())
    meta = await fresh.load_checkpoint(best, load_optimizer=True, load_scheduler=True)
    assert meta["epoch"] == info.epoch


async def _loaded(trained: tuple, tmp_path: Path) -> tuple[FieldDetector, list]:
    detector, _, _ = trained
    path = await detector.save_model(tmp_path / "good.pt")
    target = FieldDetector(small_config())
    await target.load_checkpoint(path)
    return target, _outputs(target)


async def test_checksum_mismatch_is_refused(trained: tuple, tmp_path: Path) -> None:
    target, before = await _loaded(trained, tmp_path)
    bad = await trained[0].save_model(tmp_path / "tampered.pt")
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="tampered"):
        await target.load_checkpoint(bad)
    assert _outputs(target) == before
    assert target.checkpoint_path == tmp_path / "good.pt"


async def test_missing_sidecar_is_refused(trained: tuple, tmp_path: Path) -> None:
    target, before = await _loaded(trained, tmp_path)
    path = await trained[0].save_model(tmp_path / "nosidecar.pt")
    sidecar_path(path).unlink()
    with pytest.raises(ChecksumMismatchError, match="sidecar"):
        await target.load_checkpoint(path)
    assert _outputs(target) == before


async def test_truncated_file_is_refused_even_with_matching_sidecar(
    trained: tuple, tmp_path: Path
) -> None:
    target, before = await _loaded(trained, tmp_path)
    path = await trained[0].save_model(tmp_path / "trunc.pt")
    write_with_sidecar(path, path.read_bytes()[:4000])  # sidecar recomputed for the stub
    with pytest.raises(CheckpointError, match="truncated"):
        await target.load_checkpoint(path)
    assert _outputs(target) == before


async def test_other_format_version_is_refused(trained: tuple, tmp_path: Path) -> None:
    target, before = await _loaded(trained, tmp_path)
    path = tmp_path / "future.pt"
    save_checkpoint(path, {"format_version": 99})
    with pytest.raises(IncompatibleCheckpointError, match="format version 99"):
        await target.load_checkpoint(path)
    assert _outputs(target) == before


class _Payload:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


async def test_pickle_with_code_is_refused_and_never_runs(trained: tuple, tmp_path: Path) -> None:
    target, before = await _loaded(trained, tmp_path)
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"format_version": 1, "model_state": _Payload(str(marker))}, buf)
    path = tmp_path / "evil.pt"
    write_with_sidecar(path, buf.getvalue())  # even a "valid" checksum must not help
    with pytest.raises(CheckpointError, match="refused"):
        await target.load_checkpoint(path)
    assert not marker.exists()
    # Plain pickle.dumps too (not a torch zip file).
    write_with_sidecar(path, pickle.dumps(_Payload(str(marker))))
    with pytest.raises(CheckpointError):
        await target.load_checkpoint(path)
    assert not marker.exists()
    assert _outputs(target) == before


async def test_state_dict_that_does_not_fit_is_refused(trained: tuple, tmp_path: Path) -> None:
    target, before = await _loaded(trained, tmp_path)
    detector = trained[0]
    payload = detector._payload({"f1": 0.5}, None, None, None)
    payload["model_config"] = {**payload["model_config"], "hidden_size": 7}
    path = tmp_path / "misfit.pt"
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match="valid model"):
        await target.load_checkpoint(path)
    assert _outputs(target) == before
