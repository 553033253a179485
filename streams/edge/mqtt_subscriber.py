"""An MQTT subscriber that survives broker restarts and keeps what it received.

Used to watch what the sink delivers: by the edge tests, the edge benchmark and ``make run``-style
demos. Messages are kept in memory; it is a tool for bounded runs, not a consumer of record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import aiomqtt


class MqttSubscriber:
    """Collects ``(topic, payload)`` of every message on ``topic`` at QoS 1.

    A persistent session (``clean_session=False``, fixed client id): a broker with persistence
    keeps the subscription and queues messages while this client reconnects after a restart.

    Args:
        port: MQTT broker port on loopback.
        topic: Topic filter to subscribe to.
        host: Broker host.
    """

    def __init__(self, port: int, topic: str = "cronos/#", host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.topic = topic
        self.messages: list[tuple[str, bytes]] = []
        self.arrived_ns: list[int] = []  #: receive time of each message (benchmark latency)
        self.subscribed = asyncio.Event()
        self.connects = 0
        self._id = f"cronos-sub-{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MqttSubscriber:
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
                    self.host, self.port, identifier=self._id, clean_session=False, keepalive=5
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
