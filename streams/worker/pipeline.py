"""Batches in flight: one is detected while the previous one is published and the next fills.

The frame agent hands each batch to :meth:`BatchPipeline.submit` and goes back to faust at
once, so faust fills the next batch while this one is processed (``take_events`` does not add
to its buffer while the agent's loop body runs). Two chains of tasks keep the order:

* **process** tasks run one after another (one detector call at a time, each batch on the model
  snapshot taken when its turn comes);
* **publish** tasks run one after another, each after its own batch was processed and the
  previous batch was published; a batch's events are acknowledged to faust only once every
  outcome of the batch is acknowledged by the broker.

So at most ``depth`` batches are in flight, outcomes leave in input order, and acks reach faust
in offset order. At-least-once is kept with faust's own reference count: :meth:`submit` takes
one reference per event before faust's ``take_events`` drops its own, so faust's ack is not
final and the offset is not committed until :meth:`_publish` releases the last reference. A
batch whose publish fails, or that is still in flight when the worker stops, is never
acknowledged and is read again after a restart or rebalance.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faust.types import EventT

from streams.worker.processor import Outcome

log = logging.getLogger(__name__)

#: ``process(events) -> outcomes`` and ``publish(events, outcomes) -> None``.
ProcessFn = Callable[[Sequence[EventT]], Awaitable[list[Outcome]]]
PublishFn = Callable[[Sequence[EventT], list[Outcome]], Awaitable[None]]


class BatchPipeline:
    """Runs batches through ``process`` then ``publish`` with up to ``depth`` in flight.

    Args:
        process: Turns a batch's events into outcomes (must not raise for a bad frame).
        publish: Publishes a batch's outcomes and returns once the broker acknowledged all.
        on_error: Called once with the first error of any stage; the worker crashes on it.
        depth: Batches in flight (1 = no overlap: each batch is published before the next
            is processed).
    """

    def __init__(
        self,
        process: ProcessFn,
        publish: PublishFn,
        on_error: Callable[[BaseException], Awaitable[None]],
        depth: int = 2,
    ) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._process_fn, self._publish_fn, self._on_error = process, publish, on_error
        self._slots = asyncio.Semaphore(depth)
        self._last_process: asyncio.Task[list[Outcome]] | None = None
        self._last_publish: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failed = False

    async def submit(self, events: Sequence[EventT]) -> None:
        """Queue a batch; returns as soon as fewer than ``depth`` batches are in flight.

        Raises:
            RuntimeError: An earlier batch failed (the worker is crashing).
        """
        await self._slots.acquire()
        if self._failed:
            self._slots.release()
            raise RuntimeError("an earlier batch failed; no further batches are taken")
        for event in events:
            event.message.incref()  # released in _publish once the batch is published
        batch = list(events)
        proc = asyncio.create_task(self._process(self._last_process, batch), name="process")
        pub = asyncio.create_task(self._publish(self._last_publish, proc, batch), name="publish")
        self._last_process, self._last_publish = proc, pub
        for task in (proc, pub):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        """Stop every batch in flight without acknowledging it (it is read again later)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _process(
        self, previous: asyncio.Task[list[Outcome]] | None, events: list[EventT]
    ) -> list[Outcome]:
        if previous is not None:
            # Only the order matters here; a failure of the previous batch is its publish's.
            await asyncio.gather(previous, return_exceptions=True)
        return await self._process_fn(events)

    async def _publish(
        self,
        previous: asyncio.Task[None] | None,
        processed: asyncio.Task[list[Outcome]],
        events: list[EventT],
    ) -> None:
        try:
            outcomes = await processed
            if previous is not None:
                await previous  # raises if it failed: nothing after a lost batch is acked
            await self._publish_fn(events, outcomes)
            for event in events:
                event.ack()  # the last reference: faust may now commit these offsets
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self._failed:
                self._failed = True
                log.critical("batch not published, stopping the worker: %r", exc)
                await self._on_error(exc)
            raise
        finally:
            self._slots.release()
