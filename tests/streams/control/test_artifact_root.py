"""Artifact resolution: deterministic choice, confinement to the root, checksum sidecars."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

import pytest

from engine.translation.store import rules_filename
from streams.control.artifact_root import (
    ArtifactRoot,
    sha256_file,
    sidecar_path,
    verify_sidecar,
)
from streams.errors import CommandRejectedError


def _write(path: Path, data: bytes, *, sidecar: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if sidecar:
        digest = hashlib.sha256(data).hexdigest()
        sidecar_path(path).write_text(f"{digest}  {path.name}\n")
    return path


def _reason(exc: pytest.ExceptionInfo[CommandRejectedError]) -> str:
    return exc.value.reason


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "checkpoints"
    _write(base / "field_detector" / "field_detector_v1.0.0_latest.pt", b"detector")
    rules = base / "translation_rules"
    for stamp in ("20261127_090000", "20261127_100000", "20261126_235959"):
        name = f"translation_rules_modbus_to_mqtt_v1.0.0_{stamp}.json"
        _write(rules / name, stamp.encode())
    _write(rules / "translation_rules_modbus_to_mqtt_v1.0.0-rc.1_20991231_000000.json", b"rc")
    _write(rules / "translation_rules_modbus_to_opcua_v1.0.0_20991231_000000.json", b"other")
    _write(rules / "translation_rules_modbus_to_mqtt_v1.0.0_20261399_999999.json", b"bad ts")
    return base


def test_field_detector_path(root: Path) -> None:
    path = ArtifactRoot(root).resolve("field_detector", "1.0.0")
    assert path == (root / "field_detector" / "field_detector_v1.0.0_latest.pt").resolve()


def test_newest_rules_picked_by_name_not_mtime(root: Path) -> None:
    rules = root / "translation_rules"
    oldest = rules / "translation_rules_modbus_to_mqtt_v1.0.0_20261126_235959.json"
    os.utime(oldest, (4_000_000_000, 4_000_000_000))  # newest mtime must not matter
    store = ArtifactRoot(root)
    picks = {store.resolve("translation_rules", "1.0.0", "modbus->mqtt") for _ in range(5)}
    assert picks == {(rules / "translation_rules_modbus_to_mqtt_v1.0.0_20261127_100000.json")}
    rc = store.resolve("translation_rules", "1.0.0-rc.1", "modbus->mqtt")
    assert rc.read_bytes() == b"rc"


def test_rules_filename_matches_resolver(tmp_path: Path) -> None:
    """The studio's file names (engine side) are what the stream's resolver finds."""
    older = rules_filename("a", "b", "3.1.4", 0.99, datetime(2026, 1, 2, 3, 4, 5, 100))
    newer = rules_filename("a", "b", "3.1.4", 0.5, datetime(2026, 1, 2, 3, 4, 5, 200))
    assert newer == "translation_rules_a_to_b_v3.1.4_acc0.5000_20260102_030405_000200.json"
    for name in (older, newer):
        _write(tmp_path / "translation_rules" / name, b"{}")
    assert ArtifactRoot(tmp_path).resolve("translation_rules", "3.1.4", "a->b").name == newer


@pytest.mark.parametrize(
    ("component", "version", "pair", "reason"),
    [
        ("field_detector", "../../x", None, "bad_version"),
        ("field_detector", "1.0.0/../../../etc/passwd", None, "bad_version"),
        ("field_detector", "2.0.0", None, "artifact_missing"),
        ("kernel", "1.0.0", None, "unknown_component"),
        ("translation_rules", "1.0.0", None, "bad_pair"),
        ("translation_rules", "1.0.0", "../..->x", "bad_pair"),
        ("translation_rules", "1.0.0", "a_to_b->c", "bad_pair"),
        ("translation_rules", "9.9.9", "modbus->mqtt", "artifact_missing"),
        ("translation_rules", "1.0.0", "mqtt->modbus", "artifact_missing"),
    ],
)
def test_refusals(root: Path, component: str, version: str, pair: str | None, reason: str) -> None:
    with pytest.raises(CommandRejectedError) as exc:
        ArtifactRoot(root).resolve(component, version, pair)
    assert _reason(exc) == reason


def test_symlink_escaping_root_refused(root: Path, tmp_path: Path) -> None:
    outside = _write(tmp_path / "elsewhere" / "evil.pt", b"evil")
    link = root / "field_detector" / "field_detector_v6.6.6_latest.pt"
    link.symlink_to(outside)
    with pytest.raises(CommandRejectedError) as exc:
        ArtifactRoot(root).resolve("field_detector", "6.6.6")
    assert _reason(exc) == "path_outside_root"


def test_symlinked_directory_escaping_root_refused(tmp_path: Path) -> None:
    base = tmp_path / "root"
    base.mkdir()
    outside = tmp_path / "outside_rules"
    _write(outside / "translation_rules_a_to_b_v1.0.0_20260101_000000.json", b"{}")
    (base / "translation_rules").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CommandRejectedError) as exc:
        ArtifactRoot(base).resolve("translation_rules", "1.0.0", "a->b")
    assert _reason(exc) == "path_outside_root"


def test_symlink_inside_root_resolves_to_target(root: Path) -> None:
    target = _write(root / "field_detector" / "field_detector_v2.0.0_epoch3_f10.9100_x.pt", b"e3")
    link = root / "field_detector" / "field_detector_v2.0.0_latest.pt"
    link.symlink_to(target.name)
    store = ArtifactRoot(root)
    assert store.resolve("field_detector", "2.0.0") == target.resolve()
    assert store.resolve_verified("field_detector", "2.0.0")[1] == sha256_file(target)


def test_root_given_through_symlink(root: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    assert ArtifactRoot(alias).resolve("field_detector", "1.0.0").read_bytes() == b"detector"


def test_verify_sidecar_ok(root: Path) -> None:
    path, digest = ArtifactRoot(root).resolve_verified("field_detector", "1.0.0")
    assert digest == hashlib.sha256(b"detector").hexdigest() == sha256_file(path)


def test_checksum_mismatch_refused(root: Path) -> None:
    path = ArtifactRoot(root).resolve("field_detector", "1.0.0")
    path.write_bytes(b"tampered")
    with pytest.raises(CommandRejectedError) as exc:
        verify_sidecar(path)
    assert _reason(exc) == "checksum_mismatch"


def test_sidecar_naming_another_file_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.pt", b"x", sidecar=False)
    digest = hashlib.sha256(b"x").hexdigest()
    sidecar_path(path).write_text(f"{digest}  b.pt\n")
    with pytest.raises(CommandRejectedError) as exc:
        verify_sidecar(path)
    assert _reason(exc) == "checksum_mismatch"
    sidecar_path(path).write_text(f"{digest.upper()} *a.pt\n")  # binary marker is fine
    assert verify_sidecar(path) == digest
    sidecar_path(path).write_text(digest)  # bare digest is fine
    assert verify_sidecar(path) == digest


@pytest.mark.parametrize("content", [None, "", "not a digest  a.pt", "abc  a.pt"])
def test_missing_or_garbled_sidecar_refused(tmp_path: Path, content: str | None) -> None:
    path = _write(tmp_path / "a.pt", b"x", sidecar=False)
    if content is not None:
        sidecar_path(path).write_text(content)
    with pytest.raises(CommandRejectedError) as exc:
        verify_sidecar(path)
    assert _reason(exc) == "checksum_missing"


def test_large_file_hash(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 7)  # spans several read chunks
    path = _write(tmp_path / "big.pt", data)
    assert verify_sidecar(path) == hashlib.sha256(data).hexdigest()
