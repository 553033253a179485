"""Retention: the prune plan, protected versions and paths, and the directory lock."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.artifact_lock import ArtifactLockTimeoutError, exclusive_lock, shared_lock
from engine.artifacts import sidecar_path, write_with_sidecar
from engine.detection import retention
from engine.detection.field_detector import FieldDetector
from engine.detection.retention import Artifact, apply_prune, plan_prune
from tests.support.cli import cli

from ..conftest import tiny_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _arts(versions: list[str], epochs: int = 1, group: str = "field_detector") -> list[Artifact]:
    out = []
    for n, v in enumerate(versions):
        for e in range(epochs):
            when = T0 + timedelta(hours=n, minutes=e)
            out.append(Artifact(Path(f"/ckpt/{group}_{v}_{e}.pt"), v, when, group, 0.5 + e / 100))
    return out


VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0-rc1", "2.0.0", "2.1.0", "2.2.0", "3.0.0"]


def test_keeps_newest_versions_by_semver() -> None:
    plan = plan_prune(_arts(VERSIONS), keep_versions=5)
    kept = {a.version for a in plan.keep}
    assert kept == {"3.0.0", "2.2.0", "2.1.0", "2.0.0", "2.0.0-rc1"}
    assert {a.version for a in plan.delete} == {"1.0.0", "1.1.0", "1.2.0"}


def test_protected_versions_and_paths_survive() -> None:
    arts = _arts(VERSIONS)
    pinned = next(a.path for a in arts if a.version == "1.1.0")
    plan = plan_prune(
        arts, keep_versions=1, protected_versions={"1.0.0", "2.0.0"}, protected_paths={pinned}
    )
    reasons = {d.artifact.version: d.reason for d in plan.decisions}
    assert {a.version for a in plan.keep} == {"3.0.0", "2.0.0", "1.0.0", "1.1.0"}
    assert reasons["1.0.0"] == "protected version" and reasons["1.1.0"] == "protected file"
    assert reasons["1.2.0"].startswith("older")


def test_keep_epochs_trims_only_unprotected_versions() -> None:
    arts = _arts(["1.0.0", "2.0.0"], epochs=4)
    latest = Artifact(Path("/ckpt/field_detector_v2.0.0_latest.pt"), "2.0.0", T0, score=None)
    plan = plan_prune([*arts, latest], keep_epochs=2, protected_versions={"1.0.0"})
    kept_200 = sorted(a.path.name for a in plan.keep if a.version == "2.0.0")
    # The two best epochs (highest F1) and the _latest file stay; 1.0.0 is protected whole.
    assert kept_200 == ["field_detector_2.0.0_2.pt", "field_detector_2.0.0_3.pt", latest.path.name]
    assert len([a for a in plan.keep if a.version == "1.0.0"]) == 4


def test_groups_are_pruned_independently() -> None:
    arts = _arts(["1.0.0", "1.1.0"], group="modbus->mqtt") + _arts(["1.0.0"], group="modbus->json")
    plan = plan_prune(arts, keep_versions=1)
    assert [(a.group, a.version) for a in plan.delete] == [("modbus->mqtt", "1.0.0")]


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_prune([], keep_versions=0)


def _files(tmp_path: Path, versions: list[str]) -> list[Artifact]:
    out = []
    for n, v in enumerate(versions):
        p = tmp_path / f"field_detector_v{v}_epoch1_f10.9000_2026010{n + 1}_000000.pt"
        write_with_sidecar(p, v.encode())
        out.append(Artifact(p, v, T0 + timedelta(days=n), score=0.9))
    return out


def test_apply_deletes_files_and_sidecars(tmp_path: Path) -> None:
    arts = _files(tmp_path, ["1.0.0", "1.1.0", "1.2.0"])
    assert retention.field_detector_artifacts(tmp_path) == sorted(
        arts, key=lambda a: a.saved_at, reverse=True
    )
    deleted = apply_prune(plan_prune(arts, keep_versions=2), tmp_path)
    assert deleted == [arts[0].path]
    assert not arts[0].path.exists() and not sidecar_path(arts[0].path).exists()
    assert arts[1].path.exists() and sidecar_path(arts[2].path).exists()


def test_prune_waits_for_loads_and_gives_up(tmp_path: Path) -> None:
    arts = _files(tmp_path, ["1.0.0", "1.1.0"])
    plan = plan_prune(arts, keep_versions=1)
    with shared_lock(tmp_path), pytest.raises(ArtifactLockTimeoutError, match="loads"):
        apply_prune(plan, tmp_path, lock_timeout_s=0.1)
    assert arts[0].path.exists()  # nothing deleted while a load held the directory


def test_loader_waits_for_prune(trained: tuple, tmp_path: Path) -> None:
    """load_checkpoint takes the shared lock: it blocks while a prune holds the directory."""
    _, history, _ = trained
    src = Path(history["summary"]["best_checkpoint"])
    dst = tmp_path / src.name
    write_with_sidecar(dst, src.read_bytes())
    detector = FieldDetector(tiny_config())
    done = threading.Event()

    def load() -> None:
        asyncio.run(detector.load_checkpoint(dst))
        done.set()

    with exclusive_lock(tmp_path):
        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(0.3)
        assert not done.is_set()
    worker.join(timeout=30)
    assert done.is_set() and detector.is_ready
    blocked = pytest.raises(ArtifactLockTimeoutError, match="prune")
    with exclusive_lock(tmp_path), blocked, shared_lock(tmp_path, timeout_s=0.05):
        pass


def test_cli_prune_dry_run_then_prune(tmp_path: Path) -> None:
    arts = _files(tmp_path, ["1.0.0", "1.1.0", "1.2.0", "1.3.0"])
    result = cli(
        "checkpoints",
        "prune",
        "--dir",
        str(tmp_path),
        "--keep",
        "2",
        "--protect",
        "1.0.0",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "would delete 1 files" in result.output
    assert "protected version" in result.output and "delete" in result.output
    assert all(a.path.exists() for a in arts)
    result = cli(
        "checkpoints", "prune", "--dir", str(tmp_path), "--keep", "2", "--protect", "1.0.0"
    )
    assert result.exit_code == 0, result.output
    assert [a.path.exists() for a in arts] == [True, False, True, True]
