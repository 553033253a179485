"""Producing captured frames to ``cronos.frames.raw`` with the agreed headers.

Headers (docs/architecture.md): ``protocol``, ``source``, ``frame-id``, ``direction`` (request or
response), ``target`` when the frame should be translated, and ``captured-at`` (Unix time in
nanoseconds when the bytes were read, for end-to-end latency). A Modbus read response also
carries the request it answers: ``modbus-function``, ``modbus-address`` (start register) and
``modbus-count``, which tag maps need to name its registers. The record key is the source id,
so the frames of one device stay in order on one partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from streams.edge.edge_metrics import FRAMES_INGESTED
from streams.worker.results import (
    H_CAPTURED_AT,
    H_MODBUS_ADDRESS,
    H_MODBUS_COUNT,
    H_MODBUS_FUNCTION,
    Headers,
)

log = logging.getLogger(__name__)


def frame_headers(
    *,
    protocol: str,
    source: str,
    direction: str,
    frame_id: str,
    target: str | None = None,
    captured_ns: int | None = None,
    request: tuple[int, int, int] | None = None,
) -> Headers:
    """The header list of one raw frame.

    Args:
        protocol: ``protocol`` header.
        source: ``source`` header.
        direction: ``request`` or ``response``.
        frame_id: ``frame-id`` header.
        target: ``target`` header (only frames to translate have one).
        captured_ns: When the bytes were read (default: now).
        request: ``(function code, start address, count)`` of the read a response answers.
    """
    headers: Headers = [
        ("protocol", protocol.encode()),
        ("source", source.encode()),
        ("direction", direction.encode()),
        ("frame-id", frame_id.encode()),
        (H_CAPTURED_AT, str(captured_ns or time.time_ns()).encode()),
    ]
    if target:
        headers.append(("target", target.encode()))
    if request is not None:
        fc, address, count = request
        headers.append((H_MODBUS_FUNCTION, str(fc).encode()))
        headers.append((H_MODBUS_ADDRESS, str(address).encode()))
        headers.append((H_MODBUS_COUNT, str(count).encode()))
    return headers


class RawPublisher:
    """An ``acks=all`` producer for raw frames; :meth:`flush` waits for every acknowledgement.

    Sends do not wait for their ack one by one (that would cap a device at one frame per round
    trip); a failed delivery is logged and counted in :attr:`failed`.
    """

    def __init__(
        self, bootstrap: Sequence[str] | str, topic: str, auth: Mapping[str, Any] | None = None
    ) -> None:
        self.topic = topic
        self.sent = 0
        self.failed = 0
        # auth: KafkaSettings.client_auth() (SASL/SSL), where configured.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=1, **(auth or {})
        )
        self._inflight: set[asyncio.Future[object]] = set()
        self._run = uuid.uuid4().hex[:8]
        self._seq = 0

    def next_frame_id(self, source: str) -> str:
        """A frame id unique across runs: ``{source}#{run}-{sequence}``."""
        self._seq += 1
        return f"{source}#{self._run}-{self._seq}"

    async def start(self) -> None:
        """Connect the producer."""
        await self._producer.start()

    async def stop(self) -> None:
        """Wait for outstanding acknowledgements, then close."""
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def publish(self, key: bytes | None, value: bytes, headers: Headers) -> None:
        """Enqueue one frame (returns once buffered, not acknowledged)."""
        fut = await self._producer.send(self.topic, value, key=key, headers=headers)
        self._inflight.add(fut)
        direction = next((v.decode() for k, v in headers if k == "direction"), "unknown")
        fut.add_done_callback(lambda f, d=direction: self._done(f, d))

    async def flush(self) -> None:
        """Wait until every frame published so far is acknowledged (or failed)."""
        if self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    def _done(self, fut: asyncio.Future[object], direction: str) -> None:
        self._inflight.discard(fut)
        if fut.cancelled() or fut.exception() is not None:
            self.failed += 1
            log.error(
                "raw frame not delivered to %s: %s",
                self.topic,
                "cancelled" if fut.cancelled() else fut.exception(),
            )
            return
        self.sent += 1
        FRAMES_INGESTED.labels(direction=direction).inc()
