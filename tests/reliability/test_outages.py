"""Broker and Redis outages mid-stream, on a broker and a Redis of the test's own.

Broker: the tansu process is frozen (SIGSTOP) and resumed (SIGCONT); the worker must carry on
by itself, lose nothing, and report the stall in its log and in
``cronos_publish_stalls_total``. Redis: a redis-server (append-only file) is killed and started
again on the same port; frames keep flowing on the loaded model, a command sent meanwhile is
refused with ``redis_unavailable``, and the worker reconciles to the pointer once Redis is back.
The session's shared broker and Redis (and the system Redis) are never touched.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from streams.control.events import ControlEvent
from streams.control.pointer_seal import seal
from streams.control.settings import RedisSettings
from streams.control.state import VersionPointer, VersionStore
from tests.reliability.harness import (
    RedisProcess,
    Scale,
    Tally,
    freeze_for,
    modbus_frames,
    record_figures,
    start_load,
    until,
)
from tests.support.deployment import Deployment
from tests.support.stream import HMAC_KEY, TopicReader, command, produce
from workers.devstack.probes import free_port
from workers.devstack.stack import DevStack, DevStackConfig, TopicSpec

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(300)]


@pytest.fixture
def own_broker(deployment: Deployment, redis_url: str, tmp_path: Path) -> Iterator[int]:
    """A tansu of this test's own with the deployment's topics; yields its pid."""
    parts = {"raw": 2, "results": 2}
    topics = tuple(TopicSpec(name, parts.get(kind, 1)) for kind, name in deployment.topics.items())
    stack = DevStack(
        DevStackConfig(
            kafka_port=0, redis_url=redis_url, topics=topics, state_dir=tmp_path / "stack"
        )
    )
    endpoints = stack.start()
    deployment.env["CRONOS_KAFKA_BROKER"] = endpoints.kafka_bootstrap
    try:
        yield int(stack.pid_file("kafka").read_text())
    finally:
        deployment.stop_all()  # before the broker goes, so the workers exit cleanly
        stack.stop()


def _metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def test_broker_frozen_then_resumed(
    deployment: Deployment, own_broker: int, scale: Scale
) -> None:
    dep = deployment
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    port = free_port()
    dep.env["CRONOS_METRICS_PORT"] = str(port)
    # Frames wait up to 0.5 s in a filling batch, so some are always fetched but unpublished
    # when the freeze starts (with the 20 ms default window a light load's batches are
    # published within milliseconds and the freeze may fall between two of them).
    dep.env |= {"CRONOS_BATCH_WINDOW_S": "0.5"}
    dep.start("w1")
    burst = modbus_frames(300, "burst-")
    steady = modbus_frames(int(40 * (scale.broker_freeze_s + 10)), "steady-")
    async with Tally(broker, dep.topics) as tally:
        await produce(broker, dep.topics["raw"], modbus_frames(4, "warm-"))
        await tally.wait_progress(120, dep.check_alive)
        # A burst just before the freeze, so batches are being published when it starts.
        await produce(broker, dep.topics["raw"], burst)
        load = await start_load(broker, dep.topics["raw"], steady, 40)
        try:
            await tally.wait_progress(60, dep.check_alive)
            await asyncio.to_thread(freeze_for, own_broker, scale.broker_freeze_s)
            resumed = time.monotonic()
            await tally.wait_progress(120, dep.check_alive)
            recovery = time.monotonic() - resumed
            await load.wait(180)
        finally:
            await load.stop()
        published = [f"burst-{i}" for i in range(len(burst))] + load.published
        took = await tally.settle(published, 120, dep.check_alive)
        fig = tally.figures(f"broker frozen {scale.broker_freeze_s:g} s", published)
    stalls = _metric(port, "cronos_publish_stalls_total")
    log = dep.log("w1")
    fig.recovery_s = recovery
    fig.passed = fig.lost == 0 and stalls >= 1 and "broker has not acknowledged" in log
    fig.note = f"stalls metric {stalls:g}; settled in {took:.1f} s"
    record_figures(fig)
    dep.check_alive()
    assert fig.lost == 0, sorted(tally.missing(published))[:10]
    assert "broker has not acknowledged" in log, log
    assert stalls >= 1


@pytest.fixture
def own_redis(deployment: Deployment, tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test's own (append-only, so a restart keeps the pointer)."""
    proc = RedisProcess(tmp_path / "redis")
    proc.start()
    deployment.env["CRONOS_REDIS_URL"] = proc.url
    deployment.env["CRONOS_RECONCILE_INTERVAL_S"] = "1"
    try:
        yield proc
    finally:
        deployment.stop_all()
        proc.stop()


async def test_redis_down_then_back(
    deployment: Deployment, own_redis: RedisProcess, scale: Scale
) -> None:
    dep, broker = deployment, deployment.env["CRONOS_KAFKA_BROKER"]
    prefix = dep.env["CRONOS_REDIS_KEY_PREFIX"]
    settings = RedisSettings(
        url=SecretStr(own_redis.url), key_prefix=prefix, socket_timeout_s=1, connect_timeout_s=1
    )
    dep.start("w1")
    records = modbus_frames(int(40 * (scale.redis_outage_s + 20)), "redis-")
    async with Tally(broker, dep.topics) as tally, TopicReader(broker, dep.topics["events"]) as ev:
        load = await start_load(broker, dep.topics["raw"], records, 40)
        try:
            await tally.wait_progress(120, dep.check_alive)
            own_redis.stop()
            down = time.monotonic()
            # Frames keep flowing on the loaded model.
            await tally.wait_progress(30, dep.check_alive)
            raw = command("swap", {"version": "1.1.0"})
            cid = orjson.loads(raw)["id"]
            await produce(broker, dep.topics["control"], [(None, raw, [])])

            def refused(recs: list) -> list[ControlEvent]:
                evs = [ControlEvent.from_json(r.value) for r in recs]
                return [e for e in evs if e.command_id == cid]

            await ev.until(lambda recs: bool(refused(recs)), 60)
            [event] = refused(ev.records)
            await tally.wait_progress(30, dep.check_alive)
            left = scale.redis_outage_s - (time.monotonic() - down)
            if left > 0:
                await asyncio.sleep(left)
            own_redis.start()
            back = time.monotonic()
            # The pointer survived; another replica now moves it: this worker must follow.
            store = VersionStore.from_settings(settings)
            try:
                ptr = await store.get_active("field_detector")
                assert ptr is not None and ptr.version == "1.0.0"
                target = dep.env["CRONOS_ARTIFACT_ROOT"] + "/field_detector/"
                # Another replica's pointer is sealed with the fleet's control key.
                moved = seal(
                    VersionPointer(
                        "1.1.0",
                        target + "field_detector_v1.1.0_latest.pt",
                        _sha(target + "field_detector_v1.1.0_latest.pt"),
                        "reliability-other-replica",
                    ),
                    HMAC_KEY,
                )
                assert await store.compare_and_set_active("field_detector", None, "1.0.0", moved)
            finally:
                await store.aclose()

            async def follows() -> bool:
                await tally.poll()
                return bool(tally.documents) and tally.documents[-1]["detector_version"] == "1.1.0"

            await until(follows, 60, "the worker to reconcile to 1.1.0")
            recovery = time.monotonic() - back
            await load.wait(180)
        finally:
            await load.stop()
        took = await tally.settle(load.published, 120, dep.check_alive)
        fig = tally.figures(f"redis down {scale.redis_outage_s:g} s", load.published)
    fig.recovery_s = recovery
    fig.passed = fig.lost == 0 and event.reason == "redis_unavailable"
    fig.note = f"command during outage: {event.reason}; settled in {took:.1f} s"
    record_figures(fig)
    assert (event.outcome, event.reason) == ("rejected", "redis_unavailable"), event
    assert fig.lost == 0, sorted(tally.missing(load.published))[:10]


def _sha(path: str) -> str:
    from streams.control.artifact_root import sha256_file

    return sha256_file(Path(path))
