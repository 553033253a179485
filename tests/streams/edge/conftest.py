"""Fixtures of the edge tests: a broker of the test's own, topics, settings, background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.translation.rules import TranslationRules
from streams.edge.mqtt_client import MqttLink
from streams.edge.mqtt_sink import MqttSink
from streams.edge.raw_publisher import RawPublisher
from streams.edge.settings import MqttSettings, SinkSettings
from streams.worker.settings import KafkaSettings
from workers.devstack.mqtt_broker import MqttBroker, MqttBrokerConfig, mosquitto_bin
from workers.devstack.relay import translate_raw


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[MqttBroker]:
    """An MQTT broker on a free loopback port, never the system's (tests stop and restart it)."""
    if mosquitto_bin() is None:  # a set-up fault, not a reason to skip: `make test` installs it
        pytest.fail("mosquitto is required: `make deps` installs it (Debian, as root)")
    broker = MqttBroker(MqttBrokerConfig(port=0, state_dir=tmp_path / "mqtt"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass(frozen=True)
class EdgeTopics:
    """Fresh topics of one test."""

    raw: str
    mqtt: str
    dlq: str


@pytest.fixture
async def edge_topics(unique_topic: Callable[..., Awaitable[str]]) -> EdgeTopics:
    """Raw, translated and dead-letter topics of this test (one partition each)."""
    return EdgeTopics(
        await unique_topic(1, "raw"), await unique_topic(1, "mqtt"), await unique_topic(1, "dlq")
    )


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Worker-style Kafka settings with the short group timings tansu needs in tests."""
    return KafkaSettings(
        broker=kafka_bootstrap,
        session_timeout_s=2.0,
        heartbeat_interval_s=0.3,
        rebalance_timeout_s=2.0,
    )


@pytest.fixture
def make_sink(
    kafka_settings: KafkaSettings, edge_topics: EdgeTopics, mqtt_broker: MqttBroker
) -> Callable[..., MqttSink]:
    """``make_sink(**sink_settings)``: a sink from the test's topics to the test's broker."""

    def make(**overrides: Any) -> MqttSink:
        base = {
            "topic": edge_topics.mqtt,
            "dlq_topic": edge_topics.dlq,
            "group_id": f"sink-{uuid.uuid4().hex[:8]}",
            "backoff_s": 0.05,
            "max_backoff_s": 0.5,
        }
        settings = SinkSettings(**(base | overrides))
        mqtt = MqttSettings(port=mqtt_broker.port, publish_timeout_s=3.0, keepalive_s=5)
        link = MqttLink(mqtt, backoff_s=0.05, max_backoff_s=0.5)
        return MqttSink(kafka_settings, settings, link)

    return make


@pytest.fixture
async def background() -> AsyncIterator[Callable[[Awaitable[Any]], asyncio.Task[Any]]]:
    """``background(coro)`` runs a task that is cancelled (and awaited) after the test."""
    tasks: list[asyncio.Task[Any]] = []

    def start(coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        tasks.append(task)
        return task

    yield start
    for task in reversed(tasks):
        task.cancel()
    for task in reversed(tasks):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@dataclass
class EdgeRig:
    """What a pipeline test of the edge adapters works with, in one fixture."""

    bootstrap: str
    topics: EdgeTopics
    broker: MqttBroker
    make_sink: Callable[..., MqttSink]
    background: Callable[[Awaitable[Any]], asyncio.Task[Any]]

    async def start_pipeline(
        self, sink: MqttSink, rules: TranslationRules | None = None
    ) -> RawPublisher:
        """Run the stand-in translator (default edge rules unless ``rules``) and ``sink`` in
        the background; a started publisher."""
        self.background(translate_raw(self.bootstrap, self.topics.raw, self.topics.mqtt, rules))
        self.background(sink.run())
        publisher = RawPublisher(self.bootstrap, self.topics.raw)
        await publisher.start()
        return publisher


@pytest.fixture
def edge(
    kafka_bootstrap: str,
    edge_topics: EdgeTopics,
    mqtt_broker: MqttBroker,
    make_sink: Callable[..., MqttSink],
    background: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> EdgeRig:
    """The broker address, this test's topics and MQTT broker, a sink factory, background."""
    return EdgeRig(kafka_bootstrap, edge_topics, mqtt_broker, make_sink, background)
