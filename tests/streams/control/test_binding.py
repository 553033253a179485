"""Artifacts bound to what was signed, sealed pointers and fleet-wide order, at the Activator.

Each test drives an :class:`Activator` directly against the real Redis, with an artifact root
of its own (a copy of the shared detectors) that it may tamper with.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from engine.llm.translation_studio import ProtocolTranslationStudio
from engine.translation import store
from streams.control.activation import Activator
from streams.control.artifact_root import ArtifactRoot
from streams.control.command import new_command
from streams.control.settings import ControlSettings, RedisSettings
from streams.control.state import VersionStore
from streams.edge.default_rules import modbus_to_mqtt_rules
from streams.worker.registry import DETECTOR, ModelRegistry
from tests.support.stream import ARTIFACT_SHA256, HMAC_KEY

pytestmark = pytest.mark.integration

MakeActivator = Callable[[str], Awaitable[Activator]]


@pytest.fixture
async def own_root(artifact_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    shutil.copytree(artifact_root, root)
    return root


@pytest.fixture
async def make_activator(
    redis_url: str, redis_prefix: str, redis_client: object, own_root: Path
) -> AsyncIterator[MakeActivator]:
    """``await make_activator("w1")``: a worker's activator, reconciled (seeds 1.0.0)."""
    stores: list[VersionStore] = []
    redis = RedisSettings(url=SecretStr(redis_url), key_prefix=redis_prefix)

    async def make(worker_id: str) -> Activator:
        store = VersionStore.from_settings(redis)
        stores.append(store)
        activator = Activator(
            worker_id=worker_id,
            store=store,
            registry=ModelRegistry(),
            root=ArtifactRoot(own_root),
            control=ControlSettings(control_hmac_key=SecretStr(HMAC_KEY.decode())),
            warmup=lambda: [b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x02"],
        )
        await activator.reconcile(DETECTOR, None, "1.0.0")
        return activator

    yield make
    for opened in stores:
        await opened.aclose()


def _cmd(action: str, target: dict, *, now: datetime | None = None) -> tuple[str, bytes]:
    cmd, raw = new_command(action, DETECTOR, target, "tests@ci", HMAC_KEY, now=now)
    return str(cmd.id), raw


async def test_swap_loads_only_the_bytes_the_command_names(make_activator: MakeActivator) -> None:
    w1 = await make_activator("w1")
    _, bare = _cmd("swap", {"version": "1.1.0"})
    assert (await w1.handle(bare)).reason == "checksum_missing"
    _, wrong = _cmd("swap", {"version": "1.1.0", "sha256": "0" * 64})
    assert (await w1.handle(wrong)).reason == "checksum_mismatch"
    _, right = _cmd("swap", {"version": "1.1.0", "sha256": ARTIFACT_SHA256["1.1.0"]})
    assert (await w1.handle(right)).outcome == "applied"
    current = w1.registry.current(DETECTOR)
    assert current is not None and current.version == "1.1.0"


async def test_emergency_rollback_refuses_a_replaced_checkpoint(
    make_activator: MakeActivator, own_root: Path
) -> None:
    w1 = await make_activator("w1")
    swap = {"version": "1.1.0", "sha256": ARTIFACT_SHA256["1.1.0"]}
    assert (await w1.handle(_cmd("swap", swap)[1])).outcome == "applied"
    # An attacker with write access to the artifact root replaces 1.0.0 and its sidecar.
    ckpts = own_root / "field_detector"
    for suffix in ("", ".sha256"):
        src = ckpts / f"field_detector_v1.1.0_latest.pt{suffix}"
        text = src.read_bytes().replace(b"v1.1.0", b"v1.0.0")
        (ckpts / f"field_detector_v1.0.0_latest.pt{suffix}").write_bytes(text)

    event = await w1.handle(_cmd("emergency_rollback", {})[1])

    assert (event.outcome, event.reason) == ("rejected", "checksum_mismatch"), event.detail
    pointer = await w1.store.get_active(DETECTOR)
    assert pointer is not None and pointer.version == "1.1.0"


async def test_unsigned_or_forged_pointer_is_refused_on_reconcile(
    make_activator: MakeActivator, own_root: Path
) -> None:
    w1 = await make_activator("w1")
    seeded = await w1.store.get_active(DETECTOR)
    assert seeded is not None and seeded.signature
    path = own_root / "field_detector" / "field_detector_v1.1.0_latest.pt"
    for signature, reason in (("", "pointer_unsigned"), ("ab" * 32, "pointer_forged")):
        current = await w1.store.get_active(DETECTOR)
        assert current is not None
        forged = dataclasses.replace(
            current,
            version="1.1.0",
            path=str(path),
            sha256=ARTIFACT_SHA256["1.1.0"],
            command_id=f"forged-{reason}",
            signature=signature,
        )
        assert await w1.store.compare_and_set_active(DETECTOR, None, current.version, forged)
        event = await w1.reconcile(DETECTOR)
        assert event is not None and (event.outcome, event.reason) == ("rejected", reason)
        running = w1.registry.current(DETECTOR)
        assert running is not None and running.version == "1.0.0"


async def test_an_older_command_is_refused_once_its_marker_expired(
    make_activator: MakeActivator,
) -> None:
    w1 = await make_activator("w1")
    now = datetime.now(UTC)
    old_id, older = _cmd("swap", {"version": "1.1.0", "sha256": ARTIFACT_SHA256["1.1.0"]}, now=now)
    _, newer = _cmd(
        "swap",
        {"version": "1.0.0", "sha256": ARTIFACT_SHA256["1.0.0"]},
        now=now + timedelta(milliseconds=1),
    )
    assert (await w1.handle(older)).outcome == "applied"
    assert (await w1.handle(newer)).outcome == "applied"
    # The fleet-wide marker has expired (or was deleted); a fresh replica gets the capture.
    await w1.store._redis.delete(w1.store.applied_key(old_id))
    w2 = await make_activator("w2")
    event = await w2.handle(older)
    assert (event.outcome, event.reason) == ("rejected", "out_of_order")
    pointer = await w2.store.get_active(DETECTOR)
    assert pointer is not None and pointer.version == "1.0.0"


# ---------------------------------------------------------------- rule sets

PAIR = "modbus->mqtt"
FC3_RESPONSE = bytes.fromhex("0001000000070103040011002a")


def _rules_cmd(target: dict) -> bytes:
    target = {"pair": PAIR} | target
    return new_command("swap", "translation_rules", target, "tests@ci", HMAC_KEY)[1]


def _sha(path: Path) -> str:
    return path.with_name(path.name + ".sha256").read_text().split()[0]


@pytest.fixture
def rules_file(own_root: Path) -> Path:
    """The default Modbus → MQTT rules, version 1.0.0, saved under the test's own root."""
    return store.save(modbus_to_mqtt_rules(version="1.0.0"), own_root / "translation_rules")


async def test_a_rules_file_must_be_the_pair_and_version_the_command_names(
    make_activator: MakeActivator, rules_file: Path
) -> None:
    act = await make_activator("w1")
    real = rules_file
    # The same bytes under a name that claims version 2.0.0 (and a matching sidecar).
    fake = real.with_name(real.name.replace("_v1.0.0_", "_v2.0.0_"))
    fake.write_bytes(real.read_bytes())
    fake.with_name(fake.name + ".sha256").write_text(f"{_sha(real)}  {fake.name}\n")

    event = await act.handle(_rules_cmd({"version": "2.0.0", "sha256": _sha(real)}))

    assert (event.outcome, event.reason) == ("rejected", "load_failed"), event.detail
    assert "not 2.0.0" in (event.detail or "")
    ok = await act.handle(_rules_cmd({"version": "1.0.0", "sha256": _sha(real)}))
    assert ok.outcome == "applied", ok.detail


async def test_min_accuracy_is_measured_never_read_from_the_file(
    make_activator: MakeActivator, rules_file: Path
) -> None:
    act = await make_activator("w1")
    declared = orjson.loads(rules_file.read_bytes())
    target = {"version": "1.0.0", "sha256": _sha(rules_file), "min_accuracy": 0.9}
    # No validation pairs: the gate cannot be measured, so it is not passed on the file's word.
    event = await act.handle(_rules_cmd(target))
    assert (event.outcome, event.reason) == ("rejected", "validation_failed"), declared
    good = ProtocolTranslationStudio()
    good.activate_rules(modbus_to_mqtt_rules(version="1.0.0"))
    expected = good.translate_sync("modbus", "mqtt", FC3_RESPONSE)
    act._rule_examples = [{"source": FC3_RESPONSE, "expected_target": expected + b"x"}]
    wrong = await act.handle(_rules_cmd(target))
    assert (wrong.outcome, wrong.reason) == ("rejected", "validation_failed")
    assert "accuracy 0.0000 < 0.9" in (wrong.detail or "")
    act._rule_examples = [{"source": FC3_RESPONSE, "expected_target": expected}]
    right = await act.handle(_rules_cmd(target))
    assert right.outcome == "applied", right.detail
