"""Hostile control commands and artifacts against a running worker process.

Already covered elsewhere (not repeated here): unsigned, forged signature, stale and replayed
commands and a checksum mismatch (tests/streams/control/test_control.py); pickle, truncated
and checksum refusals in the engine (tests/engine/detection/test_checkpoint.py); rules-file
refusals in the store (tests/engine/translation/test_store.py). This module sends what those do
not, through the control topic of a real worker, and checks that each is refused with a reason,
nothing is loaded, the pointer does not move and frames keep being stamped with the old version.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import torch
from pydantic import SecretStr

from streams.control.artifact_root import ArtifactRoot
from streams.control.command import compute_signature, new_command
from streams.control.events import ControlEvent
from streams.control.settings import RedisSettings
from streams.control.state import VersionStore
from streams.edge.default_rules import modbus_to_mqtt_rules, save_worker_rules
from streams.errors import CommandRejectedError
from tests.reliability.harness import Record, Tally, modbus_frames
from tests.support.deployment import Deployment
from tests.support.stream import HMAC_KEY, TopicReader, produce, shared_artifacts

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(240)]

PAIR = "modbus->mqtt"


class _Payload:
    """Unpickling this runs ``open(marker, 'w')``: the code a hostile checkpoint carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _sidecar(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")


def _rules_variant(root: Path, version: str, mutate: Any) -> None:
    """Save valid rules as ``version``, then rewrite the file via ``mutate`` (sidecar fixed)."""
    path = save_worker_rules(root, modbus_to_mqtt_rules(version=version))
    doc = orjson.loads(path.read_bytes())
    mutate(doc)
    path.write_bytes(orjson.dumps(doc))
    _sidecar(path)


@pytest.fixture
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared detectors plus hostile artifacts, each with a *matching* sidecar.

    Matching sidecars matter: they get each artifact past the checksum check, so the refusal
    shown is the loader's own (unpickling, truncation, schema) and not the checksum's.
    """
    base = shared_artifacts(tmp_path_factory.mktemp("artifacts"))
    root = tmp_path_factory.mktemp("hostile") / "root"
    shutil.copytree(base, root)
    det = root / "field_detector"
    marker = root.parent / "PWNED"
    torch.save({"model_state": _Payload(marker)}, det / "field_detector_v6.6.6_latest.pt")
    _sidecar(det / "field_detector_v6.6.6_latest.pt")
    good = (det / "field_detector_v1.0.0_latest.pt").read_bytes()
    (det / "field_detector_v5.5.5_latest.pt").write_bytes(good[: len(good) // 2])
    _sidecar(det / "field_detector_v5.5.5_latest.pt")
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "field_detector_v7.7.7_latest.pt").write_bytes(good)
    _sidecar(outside / "field_detector_v7.7.7_latest.pt")
    (det / "field_detector_v7.7.7_latest.pt").symlink_to(
        outside / "field_detector_v7.7.7_latest.pt"
    )
    shutil.copy(outside / "field_detector_v7.7.7_latest.pt.sha256", det)
    save_worker_rules(root, modbus_to_mqtt_rules(version="1.0.0"))
    _rules_variant(root, "3.0.0", lambda d: d["rules"].update(exec="__import__('os')"))
    _rules_variant(root, "3.0.1", lambda d: d["rules"].update(accuracy="high"))
    _rules_variant(root, "3.0.2", lambda d: d.update(extra={"x": 1}))
    return root


def _signed(data: dict[str, Any]) -> bytes:
    data = {"id": str(uuid.uuid4()), "issued_at": _now(), "issuer": "mallory@x"} | data
    return orjson.dumps(data | {"signature": compute_signature(data, HMAC_KEY)})


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _cmd(
    action: str, target: dict[str, Any], component: str = "field_detector", root: Path | None = None
) -> bytes:
    """A signed command; a swap carries the sha256 of the file's sidecar, as the CLI sends it
    (so each hostile artifact reaches the check it is built to meet)."""
    if action == "swap" and root is not None:
        try:
            _, sha = ArtifactRoot(root).resolve_verified(
                component, target["version"], target.get("pair")
            )
        except CommandRejectedError:
            sha = "0" * 64  # refused on resolution, before the digest matters
        target = target | {"sha256": sha}
    return new_command(action, component, target, "mallory@x", HMAC_KEY)[1]


def _hostile(root: Path) -> dict[str, tuple[bytes, str]]:
    """name → (wire bytes, expected refusal reason)."""
    detector = {"component": "field_detector"}
    return {
        "oversized": (
            _signed(
                {
                    "action": "swap",
                    **detector,
                    "target": {"version": "1.1.0", "reason": "x" * 20_000},
                }
            ),
            "oversized",
        ),
        "malformed_json": (b'{"id": "x", "action": swap', "malformed"),
        "not_an_object": (b"[1, 2, 3]", "malformed"),
        "unknown_action": (
            _signed({"action": "format_disk", **detector, "target": {"version": "1.1.0"}}),
            "unknown_action",
        ),
        "path_traversal": (
            _signed({"action": "swap", **detector, "target": {"version": "../../x"}}),
            "bad_version",
        ),
        "symlink_outside_root": (
            _cmd("swap", {"version": "7.7.7"}, root=root),
            "path_outside_root",
        ),
        "pickle_payload": (_cmd("swap", {"version": "6.6.6"}, root=root), "load_failed"),
        "truncated_checkpoint": (_cmd("swap", {"version": "5.5.5"}, root=root), "load_failed"),
        "rules_extra_key": (
            _cmd("swap", {"version": "3.0.0", "pair": PAIR}, "translation_rules", root),
            "load_failed",
        ),
        "rules_wrong_type": (
            _cmd("swap", {"version": "3.0.1", "pair": PAIR}, "translation_rules", root),
            "load_failed",
        ),
        "rules_extra_top_key": (
            _cmd("swap", {"version": "3.0.2", "pair": PAIR}, "translation_rules", root),
            "load_failed",
        ),
    }


def test_the_payload_is_live(artifact_root: Path, tmp_path: Path) -> None:
    """Control experiment: an unsafe unpickler *would* run the checkpoint's payload."""
    marker = tmp_path / "LIVE"
    torch.save({"model_state": _Payload(marker)}, tmp_path / "evil.pt")
    code = f"import torch; torch.load({str(tmp_path / 'evil.pt')!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert marker.exists()


async def test_hostile_commands_are_refused_and_nothing_moves(
    deployment: Deployment, artifact_root: Path, redis_url: str, redis_prefix: str
) -> None:
    dep, broker = deployment, deployment.env["CRONOS_KAFKA_BROKER"]
    dep.start("w1")
    async with (
        TopicReader(broker, dep.topics["events"]) as events,
        Tally(broker, dep.topics) as tally,
    ):
        await produce(broker, dep.topics["raw"], modbus_frames(8, "pre-"))
        await tally.wait_progress(120, dep.check_alive)  # the worker runs 1.0.0
        rules_ok = _cmd(
            "swap", {"version": "1.0.0", "pair": PAIR}, "translation_rules", artifact_root
        )
        await produce(broker, dep.topics["control"], [(None, rules_ok, [])])
        await events.until(lambda rs: _by_id(rs).get(_id(rules_ok)) is not None, 60)
        assert _by_id(events.records)[_id(rules_ok)].outcome == "applied"
        # Issued after the valid rules swap: an older command would be refused as out_of_order
        # before it reached the check each one is built to meet.
        hostile = _hostile(artifact_root)

        records: list[Record] = [(None, raw, []) for raw, _ in hostile.values()]
        await produce(broker, dep.topics["control"], records)
        # The malformed ones carry no id; every other one is matched by id.
        with_id = {name: _id(raw) for name, (raw, _) in hostile.items() if _id(raw)}
        await events.until(lambda rs: set(with_id.values()) <= set(_by_id(rs)), 90)
        got = _by_id(events.records)
        for name, cid in with_id.items():
            ev = got[cid]
            assert (name, ev.outcome, ev.reason) == (name, "rejected", hostile[name][1])
            assert ev.detail, name
        anonymous = [ControlEvent.from_json(r.value) for r in events.records]
        anonymous = [e for e in anonymous if e.command_id is None and e.action != "reconcile"]
        assert [e.reason for e in anonymous].count("malformed") >= 2

        await produce(broker, dep.topics["raw"], modbus_frames(8, "post-"))
        await tally.settle([f"post-{i}" for i in range(8)], 60, dep.check_alive)
    dep.check_alive()
    assert not (artifact_root.parent / "PWNED").exists(), "the checkpoint's payload ran"
    assert {r["detector_version"] for r in tally.documents} == {"1.0.0"}
    store_ = VersionStore.from_settings(
        RedisSettings(url=SecretStr(redis_url), key_prefix=redis_prefix)
    )
    try:
        det = await store_.get_active("field_detector")
        rules = await store_.get_active("translation_rules", PAIR)
    finally:
        await store_.aclose()
    assert det is not None and det.version == "1.0.0"
    assert rules is not None and rules.version == "1.0.0"


def _id(raw: bytes) -> str | None:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data.get("id") if isinstance(data, dict) else None


def _by_id(records: list[Any]) -> dict[str | None, ControlEvent]:
    out: dict[str | None, ControlEvent] = {}
    for rec in records:
        ev = ControlEvent.from_json(rec.value)
        if ev.action != "reconcile" and ev.command_id is not None:
            out[ev.command_id] = ev
    return out
