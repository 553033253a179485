"""Probe traffic: frames with unique ids at a steady rate, and the outcome count per frame id.

A probe is a valid synthetic Modbus/TCP frame whose ``frame-id`` header starts with a run prefix
(``drill-<run>-``) and whose ``source`` is :data:`PROBE_SOURCE`, so it can be told apart from
production traffic on the shared topics. :class:`ProbeLoad` produces them (``acks=all``, failed
sends retried: an id sent twice shows up as a duplicate, never as a loss), for ever or for a
fixed list; :class:`OutcomeCounter` reads the results and dead-letter topics (from their end when
it started, or from the beginning) and counts the outcome of every probe id, with the model
version that stamped each result. The drill (:mod:`streams.drill.runner`) and the reliability
tests (``tests/reliability/harness.py``) are both built on these two.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.datasets.synthetic import generate
from streams.kafka import assign_all
from streams.worker.results import Headers

PROBE_SOURCE: Final = "cronos-drill"
_BASE_FRAMES: Final = 500  # distinct synthetic frames; probes cycle over them


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe record: key, value, headers and its frame id."""

    frame_id: str
    key: bytes | None
    value: bytes
    headers: Headers

    @classmethod
    def of(cls, key: bytes | None, value: bytes, headers: Headers) -> Probe:
        """A probe from a ``(key, value, headers)`` record; its id is the ``frame-id`` header."""
        fid = dict(headers).get("frame-id", b"").decode(errors="replace")
        return cls(fid, key, value, headers)

    @property
    def record(self) -> tuple[bytes | None, bytes, Headers]:
        """The ``(key, value, headers)`` form a producer helper takes."""
        return self.key, self.value, self.headers


class ProbeFrames:
    """Deterministic probe records ``{prefix}{i}`` for i = 0, 1, 2, ... (no end)."""

    def __init__(
        self, prefix: str, protocol: str = "modbus", seed: int = 11, source: str = PROBE_SOURCE
    ) -> None:
        self.prefix = prefix
        self.protocol = protocol
        self.source = source
        self._base = [f.message for f in generate("modbus", _BASE_FRAMES, seed=seed)]

    def take(self, n: int) -> list[Probe]:
        """The first ``n`` probes."""
        return [self[i] for i in range(n)]

    def __getitem__(self, i: int) -> Probe:
        fid = f"{self.prefix}{i}"
        headers: Headers = [
            ("protocol", self.protocol.encode()),
            ("source", self.source.encode()),
            ("frame-id", fid.encode()),
        ]
        # Seven keys spread the probes over the partitions (and so over every worker).
        return Probe(
            fid, b"%s-%d" % (self.source.encode(), i % 7), self._base[i % len(self._base)], headers
        )


class ProbeLoad:
    """Produces probes at ``rate`` per second in a background task.

    With :class:`ProbeFrames` it runs until :meth:`stop`; with a list of probes it stops after
    the last one is acknowledged (:meth:`wait`).

    Args:
        bootstrap: Broker list.
        topic: Raw frames topic.
        frames: Where the probes come from: endless :class:`ProbeFrames`, or a fixed list.
        rate: Frames per second.
        auth: aiokafka authentication keyword arguments (``KafkaSettings.client_auth()``).
        request_timeout_ms: Producer request timeout; fault tests raise it above a broker
            freeze so that a send waits instead of failing and being re-sent.
    """

    def __init__(
        self,
        bootstrap: list[str] | str,
        topic: str,
        frames: ProbeFrames | Sequence[Probe],
        rate: float,
        auth: dict[str, Any] | None = None,
        request_timeout_ms: int = 40_000,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.topic, self.frames, self.rate = topic, frames, rate
        self.limit = None if isinstance(frames, ProbeFrames) else len(frames)
        #: Acknowledged frame ids, in the order acknowledged.
        self.published: list[str] = []
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=5,
            request_timeout_ms=request_timeout_ms,
            **(auth or {}),
        )
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        """Connect and start producing."""
        await self._producer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop producing, wait for what is in flight, and disconnect (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            # Its error, if any, was for check(); stopping must not raise it again.
            await asyncio.gather(self._task, return_exceptions=True)
        await self._producer.stop()

    @property
    def done(self) -> bool:
        """True once a fixed list has been sent in full (or the producing task failed)."""
        return self._task is not None and self._task.done()

    async def wait(self, timeout_s: float = 120) -> None:
        """Wait until every probe of a fixed list is acknowledged (re-raises the task's error).

        Raises:
            TimeoutError: Not all were acknowledged within ``timeout_s``.
        """
        assert self._task is not None, "start() first"
        await asyncio.wait_for(asyncio.shield(self._task), timeout_s)

    def check(self) -> None:
        """Re-raise the producing task's error, if it failed."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            self._task.result()

    async def _run(self) -> None:
        chunk = max(1, int(self.rate / 10))  # ten sends a second keeps the pace smooth
        start, i = time.monotonic(), 0
        while self.limit is None or i < self.limit:
            n = chunk if self.limit is None else min(chunk, self.limit - i)
            await self._send([self.frames[j] for j in range(i, i + n)])
            i += n
            # Pace against the start, so a stall is followed by a catch-up burst.
            ahead = start + i / self.rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)

    async def _send(self, probes: list[Probe]) -> None:
        pending = probes
        while pending:
            sent = [
                (p, await self._producer.send(self.topic, p.value, key=p.key, headers=p.headers))
                for p in pending
            ]
            pending = []
            for probe, fut in sent:
                try:
                    await fut
                    self.published.append(probe.frame_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    pending.append(probe)
            if pending:
                await asyncio.sleep(0.5)


@dataclass(frozen=True, slots=True)
class Stamp:
    """A probe result: where it was read and which version produced it."""

    partition: int
    offset: int
    at: float  # broker timestamp, Unix seconds
    frame_id: str
    version: str


@dataclass
class OutcomeCounter:
    """Counts the results and dead letters of the probes whose id starts with ``prefix``.

    Call :meth:`start` before producing the first probe (it pins the topics' end, or their
    beginning with ``from_beginning``), then :meth:`poll` repeatedly; other traffic on the
    topics is skipped cheaply. ``prefix=""`` counts every frame.

    Attributes:
        results: Result count per frame id.
        dead: Dead-letter count per frame id.
        stamps: Where each result was read and which version produced it.
        documents: With ``keep_documents``, every parsed result, in the order read.
        dead_headers: With ``keep_documents``, the headers of every dead letter.
    """

    bootstrap: list[str] | str
    results_topic: str
    dlq_topic: str
    prefix: str
    auth: dict[str, Any] = field(default_factory=dict)
    from_beginning: bool = False
    keep_documents: bool = False
    results: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    stamps: list[Stamp] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    dead_headers: list[dict[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._needle = self.prefix.encode()
        self._consumers = {
            topic: AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, **self.auth)
            for topic in (self.results_topic, self.dlq_topic)
        }

    async def start(self) -> None:
        """Connect and pin both topics at their end (or beginning)."""
        seek: Literal["end", "beginning"] = "beginning" if self.from_beginning else "end"
        for topic, consumer in self._consumers.items():
            await consumer.start()
            await assign_all(consumer, topic, seek=seek)

    async def stop(self) -> None:
        """Disconnect."""
        for consumer in self._consumers.values():
            await consumer.stop()

    async def poll(self, timeout_s: float = 0.1) -> None:
        """Read what arrived on both topics within about ``timeout_s``."""
        ms = max(1, int(timeout_s * 500))
        for recs in (await self._consumers[self.results_topic].getmany(timeout_ms=ms)).values():
            for r in recs:
                # A substring test skips production traffic without parsing its JSON.
                if r.value is None or self._needle not in r.value:
                    continue
                doc = orjson.loads(r.value)
                fid = str(doc.get("frame_id", ""))
                if fid.startswith(self.prefix):
                    self.results[fid] += 1
                    version = str(doc.get("detector_version"))
                    self.stamps.append(
                        Stamp(r.partition, r.offset, r.timestamp / 1000, fid, version)
                    )
                    if self.keep_documents:
                        self.documents.append(doc)
        for recs in (await self._consumers[self.dlq_topic].getmany(timeout_ms=ms)).values():
            for r in recs:
                headers = {k: bytes(v) for k, v in r.headers}
                fid = headers.get("frame-id", b"").decode(errors="replace")
                if fid.startswith(self.prefix):
                    self.dead[fid] += 1
                    if self.keep_documents:
                        self.dead_headers.append(headers)

    def outcomes(self, frame_id: str) -> int:
        """How many outcomes (results plus dead letters) ``frame_id`` has had."""
        return self.results[frame_id] + self.dead[frame_id]

    def missing(self, published: list[str]) -> set[str]:
        """The ids in ``published`` with no outcome yet."""
        return {fid for fid in published if not self.outcomes(fid)}

    def duplicates(self, published: list[str]) -> int:
        """Outcomes beyond the first, over the ids in ``published`` (at-least-once allows them)."""
        return sum(max(0, self.outcomes(fid) - 1) for fid in set(published))
