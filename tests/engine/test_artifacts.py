"""Atomic writes and sidecars: a failed write leaves the old file and no temporary file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.artifacts import atomic_write, read_verified, sidecar_path, write_with_sidecar
from engine.errors import ChecksumMismatchError


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def test_write_with_sidecar_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "model.pt"
    digest = write_with_sidecar(path, b"weights")
    assert read_verified(path) == b"weights"
    assert sidecar_path(path).read_text() == f"{digest}  model.pt\n"
    assert sorted(_tree(path.parent)) == ["model.pt", "model.pt.sha256"]


def _fail_nth_call(monkeypatch: pytest.MonkeyPatch, name: str, n: int) -> None:
    """Make the ``n``-th call of ``os.<name>`` (as ``engine.artifacts`` sees it) raise OSError."""
    real = getattr(os, name)
    calls = 0

    def wrapper(*args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == n:
            raise OSError(f"{name} failed")
        return real(*args)

    monkeypatch.setattr(f"engine.artifacts.os.{name}", wrapper)


@pytest.mark.parametrize(
    ("call", "n"),
    [
        ("fsync", 1),  # writing the file's temp copy
        ("fsync", 2),  # writing the sidecar's, after the file's is written
        ("replace", 1),  # renaming the file into place
    ],
)
def test_failed_write_or_rename_keeps_old_pair_and_removes_temps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, n: int
) -> None:
    path = tmp_path / "model.pt"
    write_with_sidecar(path, b"old")
    before = _tree(tmp_path)
    _fail_nth_call(monkeypatch, call, n)
    with pytest.raises(OSError, match=f"{call} failed"):
        write_with_sidecar(path, b"new")
    assert _tree(tmp_path) == before  # no .tmp left beside them
    assert read_verified(path) == b"old"


def test_failed_sidecar_rename_removes_temp_and_the_pair_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.pt"
    write_with_sidecar(path, b"old")
    _fail_nth_call(monkeypatch, "replace", 2)
    with pytest.raises(OSError, match="replace failed"):
        write_with_sidecar(path, b"new")
    assert sorted(_tree(tmp_path)) == ["model.pt", "model.pt.sha256"]
    # The one window left: the new file beside the old sidecar, which no reader accepts.
    with pytest.raises(ChecksumMismatchError):
        read_verified(path)


def test_target_that_is_a_directory_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "artifact"
    target.mkdir()
    (target / "inside").write_bytes(b"kept")
    with pytest.raises(OSError):
        atomic_write(target, b"data")
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]
    assert (target / "inside").read_bytes() == b"kept"
