"""Device → ingest → (translation) → sink → Mosquitto → subscriber, with real sockets."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from streams.edge.modbus_ingest import ModbusIngest, parse_poll
from streams.edge.mqtt_subscriber import MqttSubscriber
from streams.edge.settings import IngestSettings
from tests.streams.edge.conftest import EdgeRig
from tests.support.edge import block, read_all, wait_for
from workers.devstack.modbus_sim import ModbusSimulator

pytestmark = pytest.mark.integration
Background = Callable[[Awaitable[Any]], asyncio.Task[Any]]


async def test_every_polled_block_reaches_the_subscriber(edge: EdgeRig) -> None:
    polls = {1: ["hr:0-9@30ms", "ir:2-5@30ms"], 2: ["hr:50-54@30ms"]}
    expected = {
        "cronos/1/fc3": block(1, 3, 0, 10),
        "cronos/1/fc4": block(1, 4, 2, 4),
        "cronos/2/fc3": block(2, 3, 50, 5),
    }
    sink = edge.make_sink()
    async with (
        ModbusSimulator(port=0, units=(1, 2), changing=False) as sim,
        MqttSubscriber(edge.broker.port) as sub,
    ):
        publisher = await edge.start_pipeline(sink)
        stop = asyncio.Event()
        ingests = [
            ModbusIngest(
                "127.0.0.1",
                sim.port,
                unit,
                [parse_poll(p) for p in specs],
                publisher,
                IngestSettings(topic=edge.topics.raw),
            )
            for unit, specs in polls.items()
        ]
        runs = [edge.background(i.run(stop)) for i in ingests]
        await wait_for(lambda: all(i.stats.polls_ok >= 8 for i in ingests), what="polls")
        stop.set()
        await asyncio.gather(*runs)
        await publisher.stop()
        polls_ok = sum(i.stats.polls_ok for i in ingests)
        await wait_for(lambda: len(sub.messages) >= polls_ok, what="all messages")
        await asyncio.sleep(0.3)  # a duplicate, if any, would arrive now

    raw = await read_all(edge.bootstrap, edge.topics.raw, 2 * polls_ok)
    assert len(raw) == 2 * polls_ok  # every request and every response
    directions = Counter(dict(r.headers)["direction"] for r in raw)
    assert directions == {b"request": polls_ok, b"response": polls_ok}
    for rec in raw:
        headers = dict(rec.headers)
        assert headers["protocol"] == b"modbus"
        assert headers["source"] == rec.key and headers["source"].startswith(b"modbus://")
        assert ("target" in headers) == (headers["direction"] == b"response")
    assert len(sub.messages) == polls_ok
    assert {t for t, _ in sub.messages} == set(expected)
    for topic, payload in sub.messages:
        assert payload == expected[topic], topic
    assert sink.delivered == polls_ok and sink.dead_lettered == 0


async def test_broker_restart_loses_nothing(edge: EdgeRig) -> None:
    reconnects0 = REGISTRY.get_sample_value("cronos_mqtt_reconnects_total", {"outcome": "ok"})
    sink = edge.make_sink()
    async with (
        ModbusSimulator(port=0, units=(1,), changing=True) as sim,
        MqttSubscriber(edge.broker.port) as sub,
    ):
        publisher = await edge.start_pipeline(sink)
        stop = asyncio.Event()
        ingest = ModbusIngest(
            "127.0.0.1",
            sim.port,
            1,
            [parse_poll("hr:0-3@10ms")],
            publisher,
            IngestSettings(topic=edge.topics.raw),
        )
        run = edge.background(ingest.run(stop))
        await wait_for(lambda: len(sub.messages) >= 20, what="traffic before the restart")
        # The device keeps being polled while the broker is down: those messages must wait.
        await asyncio.to_thread(edge.broker.stop)
        before = ingest.stats.polls_ok
        await wait_for(lambda: ingest.stats.polls_ok >= before + 30, what="polls while down")
        await asyncio.to_thread(edge.broker.start)
        await wait_for(lambda: sub.connects >= 2, what="subscriber back")
        await wait_for(lambda: ingest.stats.polls_ok >= before + 80, what="polls after restart")
        stop.set()
        await run
        await publisher.stop()
        raw = await read_all(edge.bootstrap, edge.topics.raw, 2 * ingest.stats.polls_ok)
        wanted = {r.value[9:] for r in raw if dict(r.headers)["direction"] == b"response"}
        assert len(wanted) == ingest.stats.polls_ok  # each read of the device is unique
        await wait_for(
            lambda: wanted <= {p for _, p in sub.messages},
            timeout_s=30,
            what="every payload after the restart",
        )
        # The subscriber may see a message before its PUBACK reaches the sink.
        await wait_for(lambda: sink.delivered >= len(wanted), what="every PUBACK")
    reconnects = REGISTRY.get_sample_value("cronos_mqtt_reconnects_total", {"outcome": "ok"})
    assert (reconnects or 0) >= (reconnects0 or 0) + 1
