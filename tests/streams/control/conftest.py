"""Fixtures of the stream integration tests: tiny trained models and in-process workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.control.activation import Activator
from streams.control.artifact_root import ArtifactRoot
from streams.control.consumer import ControlConsumer
from streams.control.settings import ControlSettings, RedisSettings
from streams.control.state import VersionStore
from streams.worker.registry import ModelRegistry
from streams.worker.settings import KafkaSettings, WorkerSettings
from tests.support.stream import HMAC_KEY, shared_artifacts


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifact root with detectors 1.0.0 and 1.1.0 and a corrupt 9.9.9."""
    return shared_artifacts(tmp_path_factory.mktemp("artifacts"))


@dataclass
class InProcessWorker:
    """The control side of a worker, without faust."""

    worker_id: str
    registry: ModelRegistry
    activator: Activator
    consumer: ControlConsumer
    store: VersionStore
    task: asyncio.Task[None]

    def version(self) -> str | None:
        active = self.registry.current("field_detector")
        return active.version if active else None


@dataclass
class ControlEnv:
    kafka: KafkaSettings
    redis: RedisSettings
    start: Callable[..., Awaitable[InProcessWorker]]
    store: VersionStore


@pytest.fixture
async def control_env(
    kafka_bootstrap: str,
    redis_url: str,
    redis_prefix: str,
    redis_client: object,  # cleans the prefix's keys afterwards
    unique_topic: Callable[..., Awaitable[str]],
    artifact_root: Path,
) -> AsyncIterator[ControlEnv]:
    """Start in-process control consumers (``await env.start("w1")``) on fresh topics.

    ``start`` takes WorkerSettings overrides as keywords (``artifact_root=...``,
    ``initial_detector_version=None``).
    """
    kafka = KafkaSettings(
        broker=kafka_bootstrap,
        topic_control=await unique_topic(1, "control"),
        topic_control_events=await unique_topic(1, "events"),
    )
    redis = RedisSettings(url=SecretStr(redis_url), key_prefix=redis_prefix)
    control = ControlSettings(control_hmac_key=SecretStr(HMAC_KEY.decode()))
    workers: list[InProcessWorker] = []
    probe = VersionStore.from_settings(redis)

    async def start(worker_id: str, **overrides: object) -> InProcessWorker:
        defaults: dict[str, object] = {
            "artifact_root": artifact_root,
            "initial_detector_version": "1.0.0",
            "reconcile_interval_s": 300,
            "warmup_frames": 4,
        }
        settings = WorkerSettings(worker_id=worker_id, **(defaults | overrides))  # type: ignore[arg-type]
        registry = ModelRegistry(settings.max_frame_bytes)
        store = VersionStore.from_settings(redis)
        activator = Activator(
            worker_id=worker_id,
            store=store,
            registry=registry,
            root=ArtifactRoot(settings.artifact_root),
            control=control,
            warmup=lambda: [b"\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x02"],
        )
        consumer = ControlConsumer(kafka, settings, activator)
        task = asyncio.create_task(consumer.run())
        worker = InProcessWorker(worker_id, registry, activator, consumer, store, task)
        workers.append(worker)
        waiter = asyncio.create_task(consumer.started.wait())
        await asyncio.wait([task, waiter], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiter.cancel()
            task.result()
        assert consumer.started.is_set(), f"{worker_id} did not start"
        return worker

    yield ControlEnv(kafka, redis, start, probe)
    for worker in workers:
        worker.task.cancel()
        await asyncio.gather(worker.task, return_exceptions=True)
        await worker.store.aclose()
    await probe.aclose()
