"""Seeding an empty pointer from the shipped model, and readiness, with real Kafka and Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.artifacts import sha256_bytes, sidecar_digest, sidecar_path
from engine.detection.default_model import DEFAULT_MODEL_VERSION, default_model_path
from streams.control.activation import Activator
from streams.control.artifact_root import ArtifactRoot
from streams.control.consumer import ControlConsumer
from streams.control.seeding import NothingToLoadError, install_shipped_detector
from streams.errors import CommandRejectedError
from streams.worker.readiness import ROUTES_PENDING
from streams.worker.registry import DETECTOR, ModelRegistry
from tests.streams.control.conftest import ControlEnv

SHIPPED = default_model_path()
SHIPPED_SHA256 = sidecar_digest(SHIPPED)


def test_install_copies_the_shipped_model_and_its_sidecar(tmp_path: Path) -> None:
    root = ArtifactRoot(tmp_path)

    path, sha = install_shipped_detector(root)

    assert sha == SHIPPED_SHA256 and path == root.resolve("field_detector", DEFAULT_MODEL_VERSION)
    assert path.read_bytes() == SHIPPED.read_bytes()
    assert sidecar_path(path).read_text().split() == [SHIPPED_SHA256, path.name]
    assert install_shipped_detector(root) == (path, sha)  # again: kept as it is


def test_install_replaces_a_damaged_copy(tmp_path: Path) -> None:
    root = ArtifactRoot(tmp_path)
    path, _ = install_shipped_detector(root)
    path.write_bytes(path.read_bytes()[:100])  # half-written

    assert install_shipped_detector(root)[1] == SHIPPED_SHA256
    assert path.read_bytes() == SHIPPED.read_bytes()


def test_install_never_overwrites_another_detector_of_that_version(tmp_path: Path) -> None:
    root = ArtifactRoot(tmp_path)
    theirs = root.detector_path(DEFAULT_MODEL_VERSION)
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"an operator's own 1.0.0")
    sidecar_path(theirs).write_text(f"{sha256_bytes(theirs.read_bytes())}  {theirs.name}\n")

    with pytest.raises(CommandRejectedError) as info:
        install_shipped_detector(root)

    assert info.value.reason == "checksum_mismatch"
    assert "CRONOS_INITIAL_DETECTOR_VERSION" in info.value.detail
    assert theirs.read_bytes() == b"an operator's own 1.0.0"


def test_install_refuses_a_shipped_model_that_fails_its_sidecar(tmp_path: Path) -> None:
    source = tmp_path / "shipped" / SHIPPED.name
    source.parent.mkdir()
    data = bytearray(SHIPPED.read_bytes())
    data[len(data) // 2] ^= 0xFF
    source.write_bytes(bytes(data))
    sidecar_path(source).write_text(sidecar_path(SHIPPED).read_text())
    root = ArtifactRoot(tmp_path / "root")

    with pytest.raises(CommandRejectedError) as info:
        install_shipped_detector(root, source)

    assert info.value.reason == "checksum_mismatch"
    assert not root.detector_path(DEFAULT_MODEL_VERSION).exists()
    with pytest.raises(CommandRejectedError) as missing:
        install_shipped_detector(root, tmp_path / "absent.pt")
    assert missing.value.reason == "artifact_missing"


@pytest.mark.integration
async def test_workers_starting_together_seed_the_shipped_model_once(
    control_env: ControlEnv, tmp_path: Path
) -> None:
    # One artifact root shared by both, as a volume would be: they copy into it at once.
    w1, w2 = await asyncio.gather(
        control_env.start("w1", artifact_root=tmp_path, initial_detector_version=None),
        control_env.start("w2", artifact_root=tmp_path, initial_detector_version=None),
    )

    pointer = await control_env.store.get_active(DETECTOR)
    assert pointer is not None
    assert (pointer.version, pointer.sha256) == (DEFAULT_MODEL_VERSION, SHIPPED_SHA256)
    for worker in (w1, w2):
        active = worker.registry.current(DETECTOR)
        assert active is not None and (active.version, active.sha256) == (
            pointer.version,
            pointer.sha256,
        )
        assert worker.registry.readiness.is_ready()
    history = await control_env.store.get_history(DETECTOR)
    [bootstrap] = [h for h in history if h.action == "bootstrap"]
    assert bootstrap.command_id == pointer.command_id
    assert bootstrap.reason == "shipped default model"
    known_good = await control_env.store.get_known_good(DETECTOR)
    assert known_good is not None and known_good.sha256 == SHIPPED_SHA256


@pytest.mark.integration
async def test_with_seeding_off_and_no_pointer_the_control_loop_fails_naming_the_setting(
    control_env: ControlEnv, tmp_path: Path
) -> None:
    with pytest.raises(NothingToLoadError, match="CRONOS_SEED_DEFAULT_MODEL"):
        await control_env.start(
            "w1", artifact_root=tmp_path, initial_detector_version=None, seed_default_model=False
        )
    assert not (tmp_path / "field_detector").exists()


@pytest.mark.integration
async def test_with_seeding_off_a_worker_loads_the_pointer_others_set(
    control_env: ControlEnv,
) -> None:
    await control_env.start("w1")  # seeds 1.0.0 from the initial version
    w2 = await control_env.start("w2", initial_detector_version=None, seed_default_model=False)
    assert w2.version() == "1.0.0" and w2.registry.readiness.is_ready()


@pytest.mark.integration
async def test_frames_wait_for_the_rules_of_configured_routes(control_env: ControlEnv) -> None:
    first = await control_env.start("w1", routes={"modbus": "mqtt"})
    assert first.registry.readiness.is_ready() and first.registry.readiness.reason() is None
    # A second replica, reconciled step by step: the detector alone does not make it ready.
    registry = ModelRegistry()
    activator = Activator(
        worker_id="w2",
        store=first.store,
        registry=registry,
        root=first.activator.root,
        control=first.activator.control,
        warmup=lambda: [b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x02"],
    )
    consumer = ControlConsumer(control_env.kafka, first.consumer.settings, activator)

    await activator.reconcile(DETECTOR)
    assert registry.current(DETECTOR) is not None
    assert not registry.readiness.is_ready()
    assert registry.readiness.reason() == ROUTES_PENDING

    await consumer.reconcile_all()  # the routes' rules: none in Redis here, so none to load
    assert registry.readiness.is_ready()
