"""``streams.kafka`` against the real broker: topics created late, partitions assigned."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.errors import KafkaSetupError
from streams.kafka import assign_all, ensure_topics

pytestmark = pytest.mark.integration


async def test_assign_all_waits_for_a_topic_created_after_the_consumer_started(
    kafka_bootstrap: str,
) -> None:
    # A reader of a worker's output topics starts before the worker creates them.
    topic = f"test.late.{uuid.uuid4().hex[:12]}"
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        waiting = asyncio.create_task(assign_all(consumer, topic, seek="beginning", timeout_s=20))
        await asyncio.sleep(1.0)
        assert not waiting.done()
        await ensure_topics(kafka_bootstrap, {topic: 3})
        parts = await asyncio.wait_for(waiting, 20)
        assert [tp.partition for tp in parts] == [0, 1, 2]
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"late", partition=2)
        finally:
            await producer.stop()
        record = await asyncio.wait_for(consumer.getone(), 20)
        assert record.value == b"late"
    finally:
        await consumer.stop()


async def test_assign_all_names_a_topic_that_never_appears(kafka_bootstrap: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        with pytest.raises(KafkaSetupError, match="does not exist"):
            await assign_all(consumer, f"test.never.{uuid.uuid4().hex[:8]}", timeout_s=0.5)
    finally:
        await consumer.stop()
