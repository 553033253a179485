"""Reading ``cronos.control`` on every replica and publishing ``cronos.control.events``.

A plain aiokafka consumer with no group: it assigns itself every partition, so N replicas in
one frame-consumer group each see every command. Start-up order matters:

1. assign all partitions and seek to their end (the position is resolved now, so any command
   published after this point will be read);
2. reconcile to the Redis pointer (covers every command applied while this worker was down),
   seeding it when there is none (:mod:`streams.control.seeding`) — or, when nothing may seed
   it, fail at once rather than hold the frame partitions without a model;
3. consume from the recorded position, applying each command in order, and reconcile again
   every ``reconcile_interval_s`` in case a command was missed (e.g. Redis was briefly away).

The frame agent takes no frame before the first reconcile of the detector and of every
configured route's rules is done (:class:`~streams.worker.readiness.Readiness`); until then the
reason it waits is logged and shown on ``/readyz``.

History is not replayed: commands older than the freshness window would all be refused, and
the pointer already holds their effect.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.control.activation import Activator
from streams.control.events import ControlEvent
from streams.control.seeding import detector_seed, nothing_to_load
from streams.errors import StateError
from streams.kafka import assign_all
from streams.worker.registry import DETECTOR, RULES
from streams.worker.settings import KafkaSettings, WorkerSettings

log = logging.getLogger(__name__)


class ControlConsumer:
    """Applies control commands as they arrive and reports each outcome.

    Args:
        kafka: Broker and topic names.
        settings: Worker settings (id, reconcile interval, routes, initial version).
        activator: Applies commands and reconciles.
    """

    def __init__(self, kafka: KafkaSettings, settings: WorkerSettings, activator: Activator):
        self.kafka = kafka
        self.settings = settings
        self.activator = activator
        self.seed = detector_seed(settings)
        self.started = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect, assign every control partition and pin the start position at the end."""
        servers = self.kafka.bootstrap_servers
        auth = self.kafka.client_auth()
        self._producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", **auth)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=servers, group_id=None, enable_auto_commit=False, **auth
        )
        await self._consumer.start()
        # The position is resolved now, before reconciling: no command can slip past.
        await assign_all(self._consumer, self.kafka.topic_control)

    async def stop(self) -> None:
        """Disconnect (idempotent)."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def reconcile_all(self) -> None:
        """Reconcile the detector and the rules of every configured route."""
        registry = self.activator.registry
        event = await self.activator.reconcile(DETECTOR, None, self.seed)
        await self._report(event)
        if registry.current(DETECTOR) is None:
            registry.readiness.waiting(*self._why_no_detector(event))
        for src, dst in sorted(self.settings.routes.items()):
            await self._report(await self.activator.reconcile(RULES, f"{src}->{dst}"))
        registry.readiness.routes_reconciled()

    async def check_something_to_load(self) -> None:
        """Fail when Redis has no detector pointer and the settings allow no seed.

        Raises:
            NothingToLoadError: Naming the settings that would give the worker a model. Not
                raised while Redis cannot be read: the reconcile then reports that, and retries.
        """
        if self.seed is not None:
            return
        try:
            pointer = await self.activator.store.get_active(DETECTOR)
        except StateError:
            return
        if pointer is None:
            raise nothing_to_load()

    def _why_no_detector(self, event: ControlEvent | None) -> tuple[str, str]:
        """(reason for /readyz, detail for the log) of a reconcile that left no detector."""
        retry = f"retried every {self.settings.reconcile_interval_s:g} s"
        if event is not None and event.reason:
            detail = "; ".join(part for part in (event.detail, retry) if part)
            return f"reconcile failed ({event.reason})", detail
        return "no field_detector pointer in Redis and no seed configured", retry

    async def run(self) -> None:
        """Start, reconcile, then apply commands until cancelled.

        Raises:
            NothingToLoadError: No pointer, and the settings allow no seed.
        """
        await self.start()
        try:
            await self.check_something_to_load()
            await self.reconcile_all()
            self.started.set()
            await self._loop()
        finally:
            await self.stop()

    async def _loop(self) -> None:
        assert self._consumer is not None
        next_reconcile = time.monotonic() + self.settings.reconcile_interval_s
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=50)
            for records in batches.values():
                for record in records:
                    event = await self.activator.handle(record.value or b"")
                    log.info(
                        "control %s %s: %s %s",
                        event.action,
                        event.command_id,
                        event.outcome,
                        event.reason or event.to_version,
                    )
                    await self._report(event)
            if time.monotonic() >= next_reconcile:
                await self.reconcile_all()
                next_reconcile = time.monotonic() + self.settings.reconcile_interval_s

    async def _report(self, event: ControlEvent | None) -> None:
        if event is None or self._producer is None:
            return
        try:
            await self._producer.send_and_wait(
                self.kafka.topic_control_events, event.to_json(), key=event.worker_id.encode()
            )
        except Exception as exc:  # an event lost is logged; the history in Redis still has it
            log.warning("control event not published: %s", exc)
