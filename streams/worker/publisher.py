"""Publishing a batch's outcomes and waiting until the broker has acknowledged all of them.

:func:`publish_outcomes` returns only when every result, translated frame and dead letter of
the batch is acknowledged (``acks=all`` on the producer). A send that fails for a passing
reason (broker away, leader moving) is retried with backoff for as long as the worker runs: a
stalled partition is better than a skipped frame. The caller acknowledges the batch's input
offsets only after this returns.

Every record is bounded (:func:`records_for`): results carry only the whitelisted input
headers, and an output over ``max_record_bytes`` becomes a dead letter, which is itself cut to
a stub (no value; topic, partition, offset and sizes of the original) when it would not fit. A
record the broker still refuses for size is a permanent error: it is cut to its stub, never
retried as it was, so one frame can never stall its partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

from streams.monitoring import worker_metrics as metrics
from streams.worker.deadletter import DeadLetter
from streams.worker.processor import Outcome
from streams.worker.results import Frame, Headers, record_bytes
from streams.worker.settings import KafkaSettings, WorkerSettings

log = logging.getLogger(__name__)

#: ``await send(topic, key, value, headers)`` enqueues a record and returns a future of its ack.
SendFn = Callable[[str, bytes | None, bytes, Headers], Awaitable[Awaitable[Any]]]


#: Errors that no retry can cure: the record is too large for the broker or the producer.
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


@dataclass(frozen=True, slots=True)
class Record:
    """One record to produce.

    Attributes:
        stub_of: For a dead letter, the dead letter itself, so that it can be cut to a stub if
            the broker refuses it for size; ``None`` for a stub or another record.
    """

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    stub_of: DeadLetter | None = None

    @property
    def size(self) -> int:
        """Approximate bytes on the wire (see :func:`~streams.worker.results.record_bytes`)."""
        return record_bytes(self.key, self.value, self.headers)


def stub_record(dead: DeadLetter, dlq: str) -> Record:
    """The stub of a dead letter: no value, where the original is, how big, why."""
    return Record(dlq, dead.frame.key, b"", dead.stub_headers())


def dead_letter_record(dead: DeadLetter, dlq: str, max_bytes: int) -> Record:
    """The whole dead letter if it fits ``max_bytes``, else its stub."""
    whole = Record(dlq, dead.frame.key, dead.value, dead.headers(), stub_of=dead)
    if whole.size <= max_bytes:
        return whole
    metrics.OVERSIZED_OUTPUTS.labels(kind="dead_letter").inc()
    return stub_record(dead, dlq)


def records_for(
    outcomes: Sequence[Outcome], topics: KafkaSettings, settings: WorkerSettings
) -> list[Record]:
    """The records a batch produces, in frame order, keyed like the input frames.

    Each is at most ``settings.max_record_bytes``: a result (or translated frame) over it
    turns its frame into an ``oversized_output`` dead letter, a dead letter over it into a stub.
    """
    cap, keep = settings.max_record_bytes, frozenset(settings.result_headers)
    out: list[Record] = []
    for o in outcomes:
        if o.dead_letter is not None:
            out.append(dead_letter_record(o.dead_letter, topics.topic_dlq, cap))
            continue
        assert o.result is not None
        key, headers = o.frame.key, _kept(o.frame, keep)
        made = [Record(topics.topic_results, key, o.result, headers)]
        if o.translated is not None:
            topic = topics.translated_topic(o.translated.target)
            made.append(Record(topic, key, o.translated.payload, headers))
        biggest = max(made, key=lambda r: r.size)
        if biggest.size <= cap:
            out.extend(made)
            continue
        kind = "result" if biggest is made[0] else "translated"
        metrics.OVERSIZED_OUTPUTS.labels(kind=kind).inc()
        metrics.DEAD_LETTERS.labels(reason="oversized_output").inc()
        dead = DeadLetter(o.frame, "oversized_output", f"{kind} of {biggest.size} bytes > {cap}")
        out.append(dead_letter_record(dead, topics.topic_dlq, cap))
    return out


def _kept(frame: Frame, keep: frozenset[str]) -> Headers:
    return [(k, v) for k, v in frame.headers if k in keep]


@dataclass
class PublishHealth:
    """Whether the current batch waits on the broker past the stall threshold (``/readyz``)."""

    stalled_since: float | None = None

    def stalled_for(self) -> float:
        """Seconds the current stall has lasted (0 when the broker acknowledges)."""
        return 0.0 if self.stalled_since is None else time.monotonic() - self.stalled_since


#: Process-wide: one frame agent per worker process publishes.
HEALTH = PublishHealth()


async def publish_outcomes(
    records: Sequence[Record],
    send: SendFn,
    *,
    stopping: Callable[[], bool] = lambda: False,
    backoff_s: float = 0.2,
    max_backoff_s: float = 5.0,
    stall_after_s: float = 2.0,
) -> None:
    """Produce ``records`` and wait for all acks; retry the failed ones until they succeed.

    Raises:
        asyncio.CancelledError: The worker is stopping; some records may be unacknowledged, so
            the caller must not acknowledge the input (the frames will be redelivered).
        RuntimeError: ``stopping()`` turned true while records were still unacknowledged.
    """
    pending = list(records)
    delay = backoff_s
    while pending:
        failed: list[Record] = []
        futures: list[tuple[Record, Awaitable[Any]]] = []
        for rec in pending:
            try:
                futures.append((rec, await send(rec.topic, rec.key, rec.value, rec.headers)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _failed(rec, exc, failed, "send")
        await _watch_acks([fut for _, fut in futures], stall_after_s)
        for rec, fut in futures:
            try:
                await fut
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _failed(rec, exc, failed, "delivery")
        if not failed:
            return
        if stopping():
            raise RuntimeError(f"{len(failed)} records unacknowledged at shutdown")
        log.warning("retrying %d unacknowledged records in %.1f s", len(failed), delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_backoff_s)
        pending = failed


def _failed(rec: Record, exc: Exception, failed: list[Record], what: str) -> None:
    """Queue ``rec`` (or, for a size refusal, its stub) for the next round, or give it up."""
    if not isinstance(exc, _TOO_LARGE):
        log.warning("%s to %s failed: %s", what, rec.topic, exc)
        failed.append(rec)
        return
    # Permanent: the same bytes would be refused again. A dead letter becomes its stub; a
    # stub (or anything else) refused for size is dropped with an error, never retried.
    if rec.stub_of is not None:
        log.error(
            "%s to %s refused for size (%d bytes): sending its stub", what, rec.topic, rec.size
        )
        metrics.OVERSIZED_OUTPUTS.labels(kind="refused").inc()
        failed.append(stub_record(rec.stub_of, rec.topic))
        return
    log.error("%s to %s refused for size (%d bytes): dropped: %s", what, rec.topic, rec.size, exc)
    metrics.RECORDS_DROPPED.labels(reason="too_large").inc()


async def _watch_acks(futures: Sequence[Awaitable[Any]], stall_after_s: float) -> None:
    """Wait for ``futures`` to settle; report a broker that stops acknowledging (an outage).

    The records are never given up here: a stall is logged and counted once per batch, and the
    wait goes on until the broker answers (or the producer's own timeout fails the futures).
    """
    pending = {asyncio.ensure_future(f) for f in futures}
    start = time.monotonic()
    stalled = False
    try:
        while pending:
            _, pending = await asyncio.wait(pending, timeout=stall_after_s)
            if pending and not stalled:
                stalled = True
                HEALTH.stalled_since = start
                metrics.PUBLISH_STALLS.inc()
                metrics.PUBLISH_STALLED.set(1)
                log.warning(
                    "broker has not acknowledged %d records for %.1f s; still waiting",
                    len(pending),
                    time.monotonic() - start,
                )
    finally:
        if stalled:
            HEALTH.stalled_since = None
            metrics.PUBLISH_STALLED.set(0)
    if stalled:
        log.warning("broker acknowledged again after %.1f s", time.monotonic() - start)
