"""Attacks on the running fleet, with worker processes over the real broker and Redis.

- A captured command replayed to a *new* replica (a fresh worker id, so a fresh per-worker
  replay key) inside the freshness window must not move the fleet back.
- One frame of ~1 MB must not stall its partition: it ends as a stub dead letter that fits the
  producer's request limit, and the frames behind it are processed.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from streams.control.events import ControlEvent
from streams.control.state import VersionStore
from tests.support.deployment import Deployment
from tests.support.stream import TopicReader, command, produce

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(200)]


def _event_of(worker: str, match: Callable[[ControlEvent], bool]) -> Callable[[list], bool]:
    def done(records: list) -> bool:
        return any(
            (e := ControlEvent.from_json(r.value)).worker_id == worker and match(e) for r in records
        )

    return done


def _events(records: list, worker: str, command_id: str) -> list[ControlEvent]:
    found = [ControlEvent.from_json(r.value) for r in records]
    return [e for e in found if e.worker_id == worker and e.command_id == command_id]


async def test_a_replayed_command_is_refused_by_a_new_replica(
    deployment: Deployment, redis_client: Redis, redis_prefix: str
) -> None:
    dep = deployment
    broker, control = dep.env["CRONOS_KAFKA_BROKER"], dep.topics["control"]
    first = command("swap", {"version": "1.1.0"})
    second = command("swap", {"version": "1.0.0"})
    first_id, second_id = (orjson.loads(raw)["id"] for raw in (first, second))
    dep.start("w1")
    async with TopicReader(broker, dep.topics["events"]) as events:
        await events.until(_event_of("w1", lambda e: e.action == "reconcile"), 120)
        for raw, cid in ((first, first_id), (second, second_id)):
            await produce(broker, control, [(None, raw, [])])
            await events.until(_event_of("w1", lambda e, c=cid: e.command_id == c), 60)
            assert [e.outcome for e in _events(events.records, "w1", cid)] == ["applied"]

        # A new replica (after a rollout): it reconciles to 1.0.0, then the capture is replayed.
        dep.start("w2")
        await events.until(_event_of("w2", lambda e: e.action == "reconcile"), 120)
        await produce(broker, control, [(None, first, [])])
        for worker in ("w1", "w2"):
            await events.until(
                _event_of(worker, lambda e: e.command_id == first_id and e.outcome == "rejected"),
                60,
            )
        (refused,) = [e for e in _events(events.records, "w2", first_id)]
        assert refused.reason in ("replayed", "out_of_order"), refused
        dep.check_alive()

    store = VersionStore(redis_client, prefix=redis_prefix)
    pointer = await store.get_active("field_detector")
    assert pointer is not None
    assert (pointer.version, pointer.command_id) == ("1.0.0", second_id)


async def test_a_one_megabyte_frame_ends_as_a_stub_and_the_partition_moves_on(
    deployment: Deployment,
) -> None:
    dep = deployment
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    dep.start("w1")
    huge = b"\x00\x01" * 500_250  # 1,000,500 bytes: over the worker's producer request limit
    headers = [("protocol", b"modbus"), ("frame-id", b"poison"), ("x-filler", b"h" * 4000)]
    after = [
        (b"plc-0", bytes.fromhex("000100000006010300000002"), [("frame-id", f"after-{i}".encode())])
        for i in range(5)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all", max_request_size=2 << 20)
    await producer.start()
    try:
        # One partition key for all: the frames after the poison one queue behind it.
        await producer.send_and_wait(dep.topics["raw"], huge, key=b"plc-0", headers=headers)
        for key, value, hdrs in after:
            await producer.send_and_wait(dep.topics["raw"], value, key=key, headers=hdrs)
    finally:
        await producer.stop()
    async with (
        TopicReader(broker, dep.topics["dlq"]) as dlq,
        TopicReader(broker, dep.topics["results"]) as results,
    ):
        await dlq.until(lambda recs: len(recs) >= 1, 120)
        await results.until(lambda recs: len(recs) >= 5, 120)
    dep.check_alive()
    (stub,) = dlq.records
    got = {k: bytes(v) for k, v in stub.headers}
    assert stub.value in (b"", None) and got["truncated"] == b"1", got
    assert (got["frame-id"], got["error"]) == (b"poison", b"oversized_frame")
    assert got["original-bytes"] == str(len(huge)).encode()
    assert got["original-topic"] == dep.topics["raw"].encode()
    ids = {orjson.loads(r.value)["frame_id"] for r in results.records}
    assert ids == {f"after-{i}" for i in range(5)}
