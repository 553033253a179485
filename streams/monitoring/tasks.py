"""Wiring of the monitoring side of a worker: recorder, validation, monitor, shadow, status page.

:meth:`Monitoring.build` makes the objects from settings; :func:`register_monitoring` attaches
their loops to the faust app as tasks. Each loop logs its own failures and keeps going: losing
a figure must never stop frames from flowing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from engine.detection.dataset import LabelledFrame
from streams.control.artifact_root import ArtifactRoot
from streams.control.settings import ControlSettings, RedisSettings
from streams.control.state import VersionStore
from streams.monitoring.monitor import Monitor
from streams.monitoring.recorder import Recorder
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.shadow import ShadowEvaluator, shadow_verdict
from streams.monitoring.status_page import StatusSource, serve
from streams.monitoring.validation_job import ValidationJob
from streams.monitoring.windows import MetricWindows
from streams.worker.registry import ModelRegistry
from streams.worker.settings import KafkaSettings, WorkerSettings

log = logging.getLogger(__name__)


@dataclass
class Monitoring:
    """The monitoring objects of one worker."""

    settings: MonitorSettings
    worker: WorkerSettings
    kafka: KafkaSettings
    control: ControlSettings
    registry: ModelRegistry
    windows: MetricWindows
    recorder: Recorder
    validation: ValidationJob | None
    shadow: ShadowEvaluator | None
    monitor: Monitor | None = None

    @classmethod
    def build(
        cls,
        worker: WorkerSettings,
        kafka: KafkaSettings,
        redis: RedisSettings,
        control: ControlSettings,
        settings: MonitorSettings,
        registry: ModelRegistry,
        validation_set: Sequence[LabelledFrame] | None,
    ) -> Monitoring:
        """Objects for a worker (no I/O happens here)."""
        # client_options: timeouts, and the password file and TLS CA like the state store's.
        client = Redis.from_url(redis.url.get_secret_value(), **redis.client_options())
        windows = MetricWindows(client, redis.key_prefix, settings.bucket_s, settings.ttl_s)
        shadow = None
        if settings.shadow_version:
            root = ArtifactRoot(worker.artifact_root)
            shadow = ShadowEvaluator(settings.shadow_version, root, registry, windows, settings)
        job = ValidationJob(registry, windows, validation_set, settings) if validation_set else None
        return cls(
            settings,
            worker,
            kafka,
            control,
            registry,
            windows,
            Recorder(windows, shadow),
            job,
            shadow,
        )

    async def promote_gate(self, component: str, pair: str | None, version: str) -> str | None:
        """Why ``promote`` of ``version`` must be refused (worse in shadow), else ``None``."""
        return await shadow_verdict(self.windows, self.settings, component, version)

    async def run_monitor(self, store: VersionStore) -> None:
        """The monitor loop, with its own producer for the commands it issues."""
        auth = self.kafka.client_auth()  # SASL/SSL, where configured
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers, acks="all", **auth
        )
        await producer.start()

        async def publish(raw: bytes) -> None:
            await producer.send_and_wait(self.kafka.topic_control, raw)

        self.monitor = Monitor(
            worker_id=self.worker.worker_id,
            settings=self.settings,
            windows=self.windows,
            store=store,
            registry=self.registry,
            key=self.control.hmac_key(),
            publish=publish,
            pairs=[f"{s}->{d}" for s, d in self.worker.routes.items()],
        )
        try:
            await self.monitor.run()
        finally:
            await producer.stop()


def _guarded(app: faust.App, name: str, coro: Any) -> Any:
    async def task() -> None:
        try:
            await coro()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # monitoring is not worth crashing the frame path for
            log.error("%s stopped: %r", name, exc)

    task.__name__ = name
    return task


def register_monitoring(app: faust.App, monitoring: Monitoring, store: VersionStore) -> None:
    """Attach the monitoring loops (and the status server) to ``app``."""
    m = monitoring
    if m.settings.enabled:
        app.task(_guarded(app, "cronos_monitor", lambda: m.run_monitor(store)))
    if m.validation is not None:
        app.task(_guarded(app, "cronos_validation", m.validation.run))
    if m.shadow is not None:
        app.task(_guarded(app, "cronos_shadow", m.shadow.start))
    if m.worker.metrics_port:
        source = StatusSource(m.worker.worker_id, m.registry, store, m.windows, m.recorder)
        host, port = m.worker.metrics_host, m.worker.metrics_port
        token = m.worker.status_bearer_token()  # read now: a bad token file fails the start

        async def status_server() -> None:
            runner = await serve(source, port, host, token)
            log.info(
                "metrics and status on %s:%d (/metrics, /status%s)",
                host,
                port,
                "; bearer token required" if token else "",
            )
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()

        app.task(_guarded(app, "cronos_status", status_server))
