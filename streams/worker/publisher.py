"""Publishing a batch's outcomes and waiting until the broker has acknowledged all of them.

:func:`publish_outcomes` returns only when every result, translated frame and dead letter of
the batch is acknowledged (``acks=all`` on the producer). A send that fails is retried with
backoff for as long as the worker runs: a stalled partition is better than a skipped frame.
The caller acknowledges the batch's input offsets only after this returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streams.monitoring import worker_metrics as metrics
from streams.worker.processor import Outcome
from streams.worker.results import Headers
from streams.worker.settings import KafkaSettings

log = logging.getLogger(__name__)

#: ``await send(topic, key, value, headers)`` enqueues a record and returns a future of its ack.
SendFn = Callable[[str, bytes | None, bytes, Headers], Awaitable[Awaitable[Any]]]


@dataclass(frozen=True, slots=True)
class Record:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers


def records_for(outcomes: Sequence[Outcome], topics: KafkaSettings) -> list[Record]:
    """The records a batch produces, in frame order, keyed like the input frames."""
    out: list[Record] = []
    for o in outcomes:
        key = o.frame.key
        if o.dead_letter is not None:
            dead = o.dead_letter
            out.append(Record(topics.topic_dlq, key, dead.value, dead.headers()))
            continue
        assert o.result is not None
        out.append(Record(topics.topic_results, key, o.result, list(o.frame.headers)))
        if o.translated is not None:
            topic = topics.translated_topic(o.translated.target)
            out.append(Record(topic, key, o.translated.payload, list(o.frame.headers)))
    return out


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
                log.warning("send to %s failed: %s", rec.topic, exc)
                failed.append(rec)
        await _watch_acks([fut for _, fut in futures], stall_after_s)
        for rec, fut in futures:
            try:
                await fut
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery to %s failed: %s", rec.topic, exc)
                failed.append(rec)
        if not failed:
            return
        if stopping():
            raise RuntimeError(f"{len(failed)} records unacknowledged at shutdown")
        log.warning("retrying %d unacknowledged records in %.1f s", len(failed), delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_backoff_s)
        pending = failed


async def _watch_acks(futures: Sequence[Awaitable[Any]], stall_after_s: float) -> None:
    """Wait for ``futures`` to settle; report a broker that stops acknowledging (an outage).

    The records are never given up here: a stall is logged and counted once per batch, and the
    wait goes on until the broker answers (or the producer's own timeout fails the futures).
    """
    pending = {asyncio.ensure_future(f) for f in futures}
    start = time.monotonic()
    stalled = False
    while pending:
        _, pending = await asyncio.wait(pending, timeout=stall_after_s)
        if pending and not stalled:
            stalled = True
            metrics.PUBLISH_STALLS.inc()
            log.warning(
                "broker has not acknowledged %d records for %.1f s; still waiting",
                len(pending),
                time.monotonic() - start,
            )
    if stalled:
        log.warning("broker acknowledged again after %.1f s", time.monotonic() - start)
