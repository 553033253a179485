"""Control commands against a real broker and Redis, with in-process control consumers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.control.command import new_command
from streams.control.events import ControlEvent
from tests.streams.control.conftest import ControlEnv
from tests.support.stream import CORRUPT, TopicReader, command, produce

pytestmark = pytest.mark.integration


async def _send(env: ControlEnv, raw: bytes) -> str | None:
    await produce(env.kafka.broker, env.kafka.topic_control, [(None, raw, [])])
    return orjson.loads(raw).get("id") if raw.startswith(b"{") else None


async def _events(env: ControlEnv, command_id: str | None, n: int) -> list[ControlEvent]:
    async with TopicReader(env.kafka.broker, env.kafka.topic_control_events) as reader:

        def mine(recs: list) -> list[ControlEvent]:
            evs = [ControlEvent.from_json(r.value) for r in recs]
            return [e for e in evs if e.command_id == command_id and e.action != "reconcile"]

        await reader.until(lambda recs: len(mine(recs)) >= n)
        return mine(reader.records)


async def _pointer(env: ControlEnv) -> str | None:
    ptr = await env.store.get_active("field_detector")
    return ptr.version if ptr else None


async def test_swap_with_two_workers_changes_the_pointer_once(control_env: ControlEnv) -> None:
    w1, w2 = await control_env.start("w1"), await control_env.start("w2")
    assert (w1.version(), w2.version(), await _pointer(control_env)) == ("1.0.0",) * 3
    cmd_id = await _send(control_env, command("swap", {"version": "1.1.0"}))

    events = await _events(control_env, cmd_id, 2)

    assert {e.worker_id for e in events} == {"w1", "w2"}
    assert all(e.outcome == "applied" and e.to_version == "1.1.0" for e in events)
    assert sum(e.pointer_changed for e in events) == 1
    assert (w1.version(), w2.version(), await _pointer(control_env)) == ("1.1.0",) * 3
    history = await control_env.store.get_history("field_detector")
    applied = [h for h in history if h.command_id == cmd_id and h.outcome == "applied"]
    assert len(applied) == 1 and applied[0].from_version == "1.0.0"
    bootstraps = [h for h in history if h.action == "bootstrap"]
    assert len(bootstraps) == 1


async def test_rollback_and_emergency_rollback(control_env: ControlEnv) -> None:
    w1 = await control_env.start("w1")
    swap_id = await _send(control_env, command("swap", {"version": "1.1.0"}))
    await _events(control_env, swap_id, 1)
    assert w1.version() == "1.1.0"

    back_id = await _send(control_env, command("rollback", {"steps": 1}))
    [event] = await _events(control_env, back_id, 1)
    assert (event.outcome, event.from_version, event.to_version) == ("applied", "1.1.0", "1.0.0"), (
        event.reason,
        event.detail,
    )
    assert w1.version() == "1.0.0" == await _pointer(control_env)

    await _events(control_env, await _send(control_env, command("swap", {"version": "1.1.0"})), 1)
    emergency_id = await _send(control_env, command("emergency_rollback", {}))
    [event] = await _events(control_env, emergency_id, 1)
    assert event.outcome == "applied" and event.to_version == "1.0.0"  # known-good: bootstrap
    assert "validate" in event.timings_ms and w1.version() == "1.0.0"


async def test_unsigned_bad_stale_and_replayed_commands_are_refused(
    control_env: ControlEnv,
) -> None:
    w1 = await control_env.start("w1")
    good = command("swap", {"version": "1.1.0"})
    data = orjson.loads(good)
    unsigned = orjson.dumps({k: v for k, v in data.items() if k != "signature"} | {"id": "u1"})
    forged = orjson.dumps(data | {"target": {"version": "9.9.9"}, "id": "f1"})
    old = datetime.now(UTC) - timedelta(hours=1)
    stale_cmd, stale = new_command(
        "swap", "field_detector", {"version": "1.1.0"}, "t", _key(), now=old
    )

    for raw in (unsigned, forged, stale):
        await _send(control_env, raw)
    assert (await _events(control_env, "u1", 1))[0].reason == "unsigned"
    assert (await _events(control_env, "f1", 1))[0].reason == "bad_signature"
    assert (await _events(control_env, str(stale_cmd.id), 1))[0].reason == "stale"
    assert w1.version() == "1.0.0" == await _pointer(control_env)

    good_id = await _send(control_env, good)
    await _send(control_env, good)  # the same bytes again: a replay
    first, second = await _events(control_env, good_id, 2)
    assert first.outcome == "applied"
    assert (second.outcome, second.reason) == ("rejected", "replayed")
    history = await control_env.store.get_history("field_detector")
    assert any(h.reason == "replayed" for h in history)


async def test_corrupt_artifact_is_refused_and_version_stays(control_env: ControlEnv) -> None:
    w1 = await control_env.start("w1")
    cmd_id = await _send(control_env, command("swap", {"version": CORRUPT}))
    [event] = await _events(control_env, cmd_id, 1)
    assert (event.outcome, event.reason) == ("rejected", "checksum_mismatch")
    assert w1.version() == "1.0.0" == await _pointer(control_env)


async def test_missing_version_and_failed_gate_are_refused(control_env: ControlEnv) -> None:
    w1 = await control_env.start("w1")
    missing = await _send(control_env, command("swap", {"version": "3.0.0", "sha256": "0" * 64}))
    gated = await _send(control_env, command("promote", {"version": "1.1.0", "min_f1": 0.5}))
    assert (await _events(control_env, missing, 1))[0].reason == "artifact_missing"
    # No validation set is configured, so an F1 gate cannot be passed.
    assert (await _events(control_env, gated, 1))[0].reason == "validation_failed"
    assert w1.version() == "1.0.0"


async def test_started_worker_reconciles_to_the_pointer(control_env: ControlEnv) -> None:
    await control_env.start("w1")
    await _events(control_env, await _send(control_env, command("swap", {"version": "1.1.0"})), 1)

    late = await control_env.start("w-late")

    assert late.version() == "1.1.0"


def _key() -> bytes:
    from tests.support.stream import HMAC_KEY

    return HMAC_KEY
