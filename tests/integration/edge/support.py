"""Helpers of the edge tests: an MQTT subscriber that survives broker restarts, a translator.

The translator stands in for the worker where the test is about ingest and egress, not about
detection: it translates the raw frames that carry a ``target`` header with the default edge
rules (engine code, the same the worker runs) and writes them to the translated topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.llm.translation_studio import ProtocolTranslationStudio
from streams.edge.default_rules import modbus_to_mqtt_rules


class Subscriber:
    """Collects ``(topic, payload)`` of every message on ``topic`` at QoS 1.

    A persistent session (``clean_session=False``, fixed client id): a broker with persistence
    keeps the subscription and queues messages while this client reconnects after a restart.
    """

    def __init__(self, port: int, topic: str = "cronos/#") -> None:
        self.port = port
        self.topic = topic
        self.messages: list[tuple[str, bytes]] = []
        self.arrived_ns: list[int] = []  #: receive time of each message (benchmark latency)
        self.subscribed = asyncio.Event()
        self.connects = 0
        self._id = f"test-sub-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._loop())
        await asyncio.wait_for(self.subscribed.wait(), timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _loop(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=self._id, clean_session=False, keepalive=5
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.connects += 1
                    self.subscribed.set()
                    async for msg in client.messages:
                        assert isinstance(msg.payload, bytes)
                        self.messages.append((str(msg.topic), msg.payload))
                        self.arrived_ns.append(time.time_ns())
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)


async def translate_raw(bootstrap: str, raw_topic: str, out_topic: str) -> None:
    """Translate raw frames that carry a ``target`` header into ``out_topic`` (until cancelled)."""
    studio = ProtocolTranslationStudio()
    studio.activate_rules(modbus_to_mqtt_rules())
    consumer = AIOKafkaConsumer(
        raw_topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            futures = []
            for rec in (r for recs in batch.values() for r in recs):
                if dict(rec.headers).get("target") != b"mqtt":
                    continue
                out = studio.translate_sync("modbus", "mqtt", rec.value or b"")
                futures.append(
                    await producer.send(out_topic, out, key=rec.key, headers=list(rec.headers))
                )
            await asyncio.gather(*futures)
    finally:
        await consumer.stop()
        await producer.stop()


async def wait_for(check: Callable[[], Any], timeout_s: float = 20, what: str = "it") -> Any:
    """Poll ``check`` (sync) every 50 ms until truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


async def read_all(bootstrap: str, topic: str, expect: int, timeout_s: float = 15) -> list[Any]:
    """Read ``topic`` from the beginning until ``expect`` records (or more) were seen."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            out.extend(r for recs in batch.values() for r in recs)
    finally:
        await consumer.stop()
    return out
