"""The Modbus ingest against a device that goes away, and pcap replay."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from streams.edge.modbus_ingest import ModbusIngest, parse_poll
from streams.edge.pcap_replay import replay
from streams.edge.raw_publisher import RawPublisher
from streams.edge.settings import IngestSettings
from tests.streams.edge.conftest import EdgeTopics
from tests.support.edge import read_all, wait_for
from tests.support.paths import MODBUS_CAPTURE
from workers.devstack.modbus_sim import ModbusSimulator

pytestmark = pytest.mark.integration
CAPTURE = MODBUS_CAPTURE


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_poll_spec_syntax() -> None:
    spec = parse_poll("hr:0-9@250ms")
    assert (spec.function_code, spec.start, spec.count, spec.interval_s) == (3, 0, 10, 0.25)
    assert parse_poll("ir:7").count == 1 and parse_poll("ir:7").interval_s == 1.0
    for bad in ("xx:0-1", "hr:9-0", "hr:0-200", "hr:0@0s", "hr:0-9@1h"):
        with pytest.raises(ValueError):
            parse_poll(bad)


async def test_device_that_disconnects_is_retried_and_reported(
    kafka_bootstrap: str,
    edge_topics: EdgeTopics,
    background: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> None:
    errors0 = metric("cronos_modbus_device_errors_total", kind="connect")
    reconnects0 = metric("cronos_modbus_reconnects_total", outcome="ok")
    sim = ModbusSimulator(port=0)
    await sim.start()
    publisher = RawPublisher(kafka_bootstrap, edge_topics.raw)
    await publisher.start()
    settings = IngestSettings(
        topic=edge_topics.raw, backoff_s=0.05, max_backoff_s=0.2, timeout_s=0.5
    )
    ingest = ModbusIngest(
        "127.0.0.1", sim.port, 1, [parse_poll("hr:0-1@20ms")], publisher, settings
    )
    stop = asyncio.Event()
    run = background(ingest.run(stop))
    try:
        await wait_for(lambda: ingest.stats.polls_ok >= 3, what="first polls")
        await sim.stop()
        await wait_for(lambda: not ingest.connected, what="disconnect noticed")
        await wait_for(
            lambda: metric("cronos_modbus_device_errors_total", kind="connect") >= errors0 + 2,
            what="failed reconnects counted",
        )
        assert ingest.stats.last_error is not None
        assert metric("cronos_modbus_connected") == 0
        polls = ingest.stats.polls_ok
        await sim.start()  # same port
        await wait_for(lambda: ingest.stats.polls_ok >= polls + 3, what="polls after return")
        assert ingest.stats.connects == 2 and ingest.stats.disconnects == 1
        assert metric("cronos_modbus_reconnects_total", outcome="ok") == reconnects0 + 1
        assert metric("cronos_modbus_reconnects_total", outcome="failed") >= 1
    finally:
        stop.set()
        await run
        await publisher.stop()
        await sim.stop()


async def test_pcap_replay_fast_and_timed(kafka_bootstrap: str, edge_topics: EdgeTopics) -> None:
    publisher = RawPublisher(kafka_bootstrap, edge_topics.raw)
    await publisher.start()
    try:
        count = await replay(CAPTURE, publisher, speed=None)
        assert count == 2258 and publisher.sent == count and publisher.failed == 0
        # Timed: the capture spans 119.4 s, so at 200x it must take about 0.6 s, not less.
        t0 = time.monotonic()
        await replay(CAPTURE, publisher, speed=200.0)
        assert 0.55 < time.monotonic() - t0 < 5
    finally:
        await publisher.stop()
    raw = await read_all(kafka_bootstrap, edge_topics.raw, 2 * count)
    assert len(raw) == 2 * count
    first = raw[:count]
    kinds = Counter((dict(r.headers)["direction"], "target" in dict(r.headers)) for r in first)
    # FC 4 responses are translated (target header); FC 6 writes and requests are not.
    assert kinds == {(b"request", False): 1142, (b"response", True): 1053, (b"response", False): 63}
