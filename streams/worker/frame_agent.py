"""The Faust agent over ``cronos.frames.raw``: batches in, results and dead letters out.

Delivery is at-least-once, and this is how (faust-streaming 0.15.3):

* ``stream.take_events(n, within=t)`` turns the stream's own acks off and acks a batch's events
  in the generator's ``finally`` — i.e. when the loop body below returns to it.
* The body hands the batch to a :class:`~streams.worker.pipeline.BatchPipeline`, which first
  takes one more faust reference on every event, so that ``finally``'s ack is not the last one.
  The pipeline releases that reference only after
  :func:`~streams.worker.publisher.publish_outcomes` saw the broker acknowledge every result and
  dead letter of the batch (``acks=all``; failed sends are retried), batches in order.
* Faust commits, every ``commit_interval_s``, the offsets after the highest contiguous acked
  offset per partition. So a committed offset always lies behind published outcomes.
* A batch still in flight when the worker stops, or whose publish fails, keeps its reference:
  its offsets never enter the commit list, and the frames are read again after a restart or
  rebalance. On an unexpected error the app is crashed rather than restarting the agent: a
  restarted agent would ack later frames and let faust's commit jump over the unacked ones.

The agent runs with ``concurrency=1`` (faust-streaming#606: concurrent actors of one agent
ack out of order).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Mapping, Sequence
from typing import Any

import faust
from faust.types import EventT

from streams.monitoring import worker_metrics as metrics
from streams.worker.pipeline import BatchPipeline
from streams.worker.processor import BatchProcessor, Outcome
from streams.worker.publisher import publish_outcomes, records_for
from streams.worker.registry import ModelRegistry
from streams.worker.results import Frame, Headers
from streams.worker.settings import KafkaSettings, WorkerSettings

log = logging.getLogger(__name__)


def frame_of(event: EventT) -> Frame:
    """The :class:`Frame` of a faust event (raw key, value and headers)."""
    msg = event.message
    return Frame(
        value=msg.value,
        key=msg.key,
        headers=_headers(msg.headers),
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
    )


def _headers(raw: Any) -> Headers:
    if not raw:
        return []
    items = raw.items() if isinstance(raw, Mapping) else raw
    return [(str(k), bytes(v) if v is not None else b"") for k, v in items]


def record_lag(app: faust.App, events: Sequence[EventT]) -> None:
    """Set ``cronos_consumer_lag`` for the partitions of a batch (high watermark - next offset)."""
    last: dict[Any, int] = {}
    for event in events:
        tp = event.message.tp
        last[tp] = max(last.get(tp, -1), event.message.offset)
    for tp, offset in last.items():
        try:
            highwater = app.consumer.highwater(tp)
        except Exception:  # no consumer yet, or a client without watermarks: no figure
            return
        if highwater is not None:
            lag = max(0, highwater - offset - 1)
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)


def register_frame_agent(
    app: faust.App,
    topic: faust.TopicT,
    processor: BatchProcessor,
    registry: ModelRegistry,
    kafka: KafkaSettings,
    settings: WorkerSettings,
) -> None:
    """Attach the frame agent to ``app``."""

    async def send(topic_name: str, key: bytes | None, value: bytes, headers: Headers) -> Any:
        return await app.producer.send(topic_name, key, value, None, None, headers)

    async def process(events: Sequence[EventT]) -> list[Outcome]:
        return await processor.process([frame_of(e) for e in events])

    async def publish(events: Sequence[EventT], outcomes: list[Outcome]) -> None:
        await publish_outcomes(
            records_for(outcomes, kafka, settings), send, stopping=lambda: app.should_stop
        )
        record_lag(app, events)

    async def cronos_frames(stream: AsyncIterable[Any]) -> None:
        # No frame is touched before a detector is active and the routes' rules reconciled
        # (the control task reconciles); meanwhile the reason is logged every few seconds.
        await registry.readiness.wait()
        assert isinstance(stream, faust.Stream)
        pipeline = BatchPipeline(process, publish, app.crash, depth=settings.pipeline_depth)
        batches = stream.take_events(settings.batch_size, within=settings.batch_window_s)
        try:
            async for events in batches:
                # Returns at once while fewer than pipeline_depth batches are in flight, so
                # faust fills the next batch while this one is detected and published.
                await pipeline.submit(events)
        except BaseException:  # cancelled or crashing: in-flight batches stay unacked
            await pipeline.cancel()
            raise

    app.agent(topic, name="cronos_frames", concurrency=1)(cronos_frames)
