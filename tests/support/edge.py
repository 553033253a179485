"""Helpers of the edge tests: waiting for a condition, reading a topic from the beginning.

The MQTT subscriber is :class:`streams.edge.mqtt_subscriber.MqttSubscriber`; the stand-in
translator is :func:`workers.devstack.relay.translate_raw`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from workers.devstack.modbus_sim import register_value


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


def block(unit: int, fc: int, start: int, count: int, reads: int = 0) -> bytes:
    """The register bytes a response of the simulator carries."""
    regs = (register_value(unit, fc, start + i, reads) for i in range(count))
    return b"".join(r.to_bytes(2, "big") for r in regs)
