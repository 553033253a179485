"""The session broker behaves like Kafka for what the pipeline relies on.

Round trips with headers, a consumer group splitting partitions, committed offsets surviving a
restart (the basis of at-least-once), and a faust-streaming agent batching with ``take``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from workers.devstack.probes import GroupTimeouts

pytestmark = pytest.mark.integration

TopicFactory = Callable[..., Awaitable[str]]


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Wait for ``condition`` to hold, checking every 50 ms."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.05)


async def test_round_trip_keeps_key_value_and_headers(
    kafka_bootstrap: str, unique_topic: TopicFactory
) -> None:
    topic = await unique_topic(partitions=1)
    headers = [("protocol", b"modbus"), ("target", b"mqtt"), ("frame-id", b"f-1")]
    async with producer(kafka_bootstrap) as p:
        for i in range(3):
            await p.send_and_wait(topic, b"\x00\x01" + bytes([i]), key=b"plc-7", headers=headers)

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(20):
            while len(records) < 3:
                batch = await consumer.getmany(timeout_ms=200)
                records += [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    assert [r.value for r in records] == [b"\x00\x01\x00", b"\x00\x01\x01", b"\x00\x01\x02"]
    assert [r.offset for r in records] == [0, 1, 2]
    assert all(r.key == b"plc-7" for r in records)
    assert all(list(r.headers) == headers for r in records)


async def test_group_members_split_the_partitions(
    kafka_bootstrap: str, unique_topic: TopicFactory, group_timeouts: GroupTimeouts
) -> None:
    topic = await unique_topic(partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    members = [
        AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            **group_timeouts.aiokafka(),
        )
        for _ in range(2)
    ]
    received: list[dict[int, list[bytes]]] = [{}, {}]

    async def poll(i: int) -> None:
        while True:  # getmany drives rebalances as well as fetches
            for tp, rs in (await members[i].getmany(timeout_ms=100)).items():
                received[i].setdefault(tp.partition, []).extend(r.value for r in rs)

    for m in members:
        await m.start()
    tasks = [asyncio.create_task(poll(i)) for i in range(2)]
    try:

        def split() -> bool:
            a, b = (m.assignment() for m in members)
            return bool(a) and bool(b) and not a & b and len(a | b) == 4

        await until(split)
        owned = [{tp.partition for tp in m.assignment()} for m in members]
        async with producer(kafka_bootstrap) as p:
            for i in range(40):
                await p.send_and_wait(topic, str(i).encode(), partition=i % 4)
        await until(lambda: sum(len(v) for r in received for v in r.values()) >= 40)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for m in members:
            await m.stop()
    assert sorted(len(o) for o in owned) == [2, 2]
    assert set(received[0]) == owned[0] and set(received[1]) == owned[1]
    values = sorted(int(v) for r in received for vs in r.values() for v in vs)
    assert values == list(range(40))


async def test_committed_offsets_survive_a_consumer_restart(
    kafka_bootstrap: str, unique_topic: TopicFactory, group_timeouts: GroupTimeouts
) -> None:
    topic = await unique_topic(partitions=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topic, 0)
    async with producer(kafka_bootstrap) as p:
        for i in range(10):
            await p.send_and_wait(topic, str(i).encode())

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **group_timeouts.aiokafka(),
        )

    first = consumer()
    await first.start()
    try:
        seen: list[bytes] = []
        async with asyncio.timeout(20):
            while len(seen) < 10:  # read everything, acknowledge only the first six
                seen += [r.value for r in (await first.getmany(tp, timeout_ms=200)).get(tp, [])]
        await first.commit({tp: 6})
        assert await first.committed(tp) == 6
    finally:
        await first.stop()

    second = consumer()
    await second.start()
    try:
        redelivered: list[bytes] = []
        async with asyncio.timeout(20):
            while len(redelivered) < 4:
                redelivered += [
                    r.value for rs in (await second.getmany(timeout_ms=200)).values() for r in rs
                ]
        assert await second.committed(tp) == 6
    finally:
        await second.stop()
    assert redelivered == [b"6", b"7", b"8", b"9"]  # nothing lost, nothing acknowledged re-read


async def test_faust_agent_batches_with_take(
    kafka_bootstrap: str, unique_topic: TopicFactory, group_timeouts: GroupTimeouts
) -> None:
    topic_name = await unique_topic(partitions=2)
    app = faust.App(
        f"cronos-test-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        **group_timeouts.faust(),  # type: ignore[arg-type]  # faust's **kwargs: Any is untyped
    )
    topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")
    batches: list[list[bytes]] = []

    @app.agent(topic)
    async def collect(stream: faust.StreamT[bytes]) -> None:
        async for batch in stream.take(5, within=1.0):
            batches.append(list(batch))

    app.finalize()
    await app.start()
    try:
        async with producer(kafka_bootstrap) as p:
            for i in range(12):
                await p.send_and_wait(topic_name, f"m{i}".encode(), key=str(i % 3).encode())
        await until(lambda: sum(len(b) for b in batches) >= 12, timeout_s=30)
    finally:
        await app.stop()
    assert sorted(v for b in batches for v in b) == sorted(f"m{i}".encode() for i in range(12))
    assert all(1 <= len(b) <= 5 for b in batches)
    assert any(len(b) == 5 for b in batches), "take(5) never filled a batch"
