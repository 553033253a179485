"""The MQTT sink's hand-off: commit after PUBACK only, dead letters for undeliverable records."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.translation.mqtt import MqttPublishCodec
from streams.edge.default_rules import modbus_to_mqtt_rules
from streams.edge.mqtt_subscriber import MqttSubscriber
from tests.streams.edge.conftest import EdgeRig
from tests.support.edge import read_all, wait_for
from tests.support.stream import produce

pytestmark = pytest.mark.integration
Background = Callable[[Awaitable[Any]], asyncio.Task[Any]]
CODEC = MqttPublishCodec(modbus_to_mqtt_rules().target_spec)


def publish(topic: str, payload: bytes) -> bytes:
    return CODEC.build({"topic": topic, "payload": payload})


async def committed(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def test_offsets_are_committed_only_after_the_broker_acknowledged(edge: EdgeRig) -> None:
    async with MqttSubscriber(edge.broker.port) as sub:
        await asyncio.to_thread(edge.broker.stop)
        records = [(b"k", publish(f"cronos/t/{i}", b"%d" % i), []) for i in range(10)]
        await produce(edge.bootstrap, edge.topics.mqtt, records)
        sink = edge.make_sink()
        edge.background(sink.run())
        await asyncio.sleep(1.5)  # the sink is running, has the records, and no broker
        assert sink.delivered == 0
        assert await committed(edge.bootstrap, sink.settings.group_id, edge.topics.mqtt) is None
        await asyncio.to_thread(edge.broker.start)
        await wait_for(lambda: sink.delivered == 10, what="delivery after the broker came")
        group, topic = sink.settings.group_id, edge.topics.mqtt
        for _ in range(100):
            if await committed(edge.bootstrap, group, topic) == 10:
                break
            await asyncio.sleep(0.05)
        assert await committed(edge.bootstrap, group, topic) == 10
        await wait_for(lambda: len(sub.messages) >= 10, what="subscriber")
    assert sorted(p for _, p in sub.messages) == sorted(b"%d" % i for i in range(10))


async def test_undeliverable_records_are_dead_lettered_with_a_reason(edge: EdgeRig) -> None:
    records = [
        (b"a", b"\x00not mqtt", [("frame-id", b"f1")]),
        (b"b", publish("cronos/big", b"x" * 2000), [("frame-id", b"f2"), ("error", b"old")]),
        (b"c", publish("cronos/ok", b"fine"), [("frame-id", b"f3")]),
    ]
    await produce(edge.bootstrap, edge.topics.mqtt, records)
    async with MqttSubscriber(edge.broker.port) as sub:
        sink = edge.make_sink(max_payload_bytes=1000, retain=True)
        edge.background(sink.run())
        await wait_for(lambda: sink.delivered == 1 and sink.dead_lettered == 2, what="sink")
        await wait_for(lambda: sub.messages, what="the good message")
    assert sub.messages == [("cronos/ok", b"fine")]
    dead = await read_all(edge.bootstrap, edge.topics.dlq, 2)
    assert [r.value for r in dead] == [records[0][1], records[1][1]]
    headers = [dict(r.headers) for r in dead]
    assert [h["error"] for h in headers] == [b"malformed_publish", b"payload_too_large"]
    assert all(h["stage"] == b"egress" and h["detail"] for h in headers)
    assert [h["frame-id"] for h in headers] == [b"f1", b"f2"]
    group = sink.settings.group_id
    for _ in range(100):
        if await committed(edge.bootstrap, group, edge.topics.mqtt) == 3:
            break
        await asyncio.sleep(0.05)
    assert await committed(edge.bootstrap, group, edge.topics.mqtt) == 3
