"""The Faust application of a worker: frame agent, control task and their shared state.

:func:`create_app` wires everything from settings alone, so the same code runs against the dev
stack and a production Kafka and Redis. Faust's web server is off (metrics have their own
endpoint) and no topics are declared by faust: the platform, or ``ensure_topics``, owns them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import faust
from faust.types.auth import CredentialsT

from engine.datasets.synthetic import generate
from engine.detection.dataset import load_jsonl
from streams.control.activation import Activator
from streams.control.artifact_root import ArtifactRoot
from streams.control.consumer import ControlConsumer
from streams.control.settings import ControlSettings, RedisSettings
from streams.control.state import VersionStore
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.tasks import Monitoring, register_monitoring
from streams.worker.faust_transport import tuned_transport
from streams.worker.frame_agent import register_frame_agent
from streams.worker.processor import BatchProcessor
from streams.worker.registry import ModelRegistry
from streams.worker.settings import PRODUCER_MAX_REQUEST_BYTES, KafkaSettings, WorkerSettings
from streams.worker.translator import load_rule_examples

log = logging.getLogger(__name__)


@dataclass
class WorkerRuntime:
    """A configured worker: the faust app and the objects its agent and task share."""

    app: faust.App
    registry: ModelRegistry
    processor: BatchProcessor
    activator: Activator
    control: ControlConsumer
    store: VersionStore
    monitoring: Monitoring | None = None


def broker_credentials(kafka: KafkaSettings) -> CredentialsT | None:
    """faust's credentials for the frame consumer and producer (``None`` for plaintext)."""
    context = kafka.ssl_context()
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_secret(),
            ssl_context=context,
            mechanism=kafka.sasl_mechanism,
        )
    return None


def faust_app(kafka: KafkaSettings, settings: WorkerSettings) -> faust.App:
    """A bare faust App configured for at-least-once batch processing."""
    app = faust.App(
        kafka.group_id,
        broker=[f"kafka://{h}" for h in kafka.bootstrap_servers],
        broker_credentials=broker_credentials(kafka),
        autodiscover=False,
        web_enabled=False,
        datadir=str(settings.data_dir / settings.worker_id),
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_session_timeout=kafka.session_timeout_s,
        broker_heartbeat_interval=kafka.heartbeat_interval_s,
        broker_rebalance_timeout=kafka.rebalance_timeout_s,
        broker_commit_interval=kafka.commit_interval_s,
        producer_acks=-1,
        producer_max_request_size=PRODUCER_MAX_REQUEST_BYTES,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=True,
    )
    app.transport = tuned_transport(app, kafka.fetch_max_wait_ms)
    return app


def create_app(
    settings: WorkerSettings | None = None,
    kafka: KafkaSettings | None = None,
    redis: RedisSettings | None = None,
    control: ControlSettings | None = None,
    monitor: MonitorSettings | None = None,
) -> WorkerRuntime:
    """Build a worker from settings (each defaults to its environment-read settings).

    Raises:
        SettingsError: No usable HMAC key.
        DatasetError: The configured validation set cannot be read.
    """
    settings = settings or WorkerSettings()
    kafka = kafka or KafkaSettings()
    redis = redis or RedisSettings()
    control = control or ControlSettings()
    monitor = monitor or MonitorSettings()
    # faust creates only the last level of its data directory.
    (settings.data_dir / settings.worker_id).mkdir(parents=True, exist_ok=True)
    app = faust_app(kafka, settings)
    raw = app.topic(
        kafka.topic_raw,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    registry = ModelRegistry(settings.max_frame_bytes)
    processor = BatchProcessor(registry, settings)
    store = VersionStore.from_settings(redis)
    validation = load_jsonl(settings.validation_set) if settings.validation_set else None
    rule_examples = (
        load_rule_examples(settings.rules_validation_set) if settings.rules_validation_set else None
    )

    def warmup() -> Sequence[bytes]:
        recent = list(processor.recent)
        if recent:
            return recent
        # No live traffic yet: synthetic Modbus frames still exercise the whole network.
        return [f.message for f in generate("modbus", settings.warmup_frames, seed=0)]

    monitoring = Monitoring.build(settings, kafka, redis, control, monitor, registry, validation)
    processor.on_batch = monitoring.recorder.record
    activator = Activator(
        worker_id=settings.worker_id,
        store=store,
        registry=registry,
        root=ArtifactRoot(settings.artifact_root),
        control=control,
        warmup=warmup,
        validation_set=validation,
        rule_examples=rule_examples,
        promote_gate=monitoring.promote_gate,
    )
    consumer = ControlConsumer(kafka, settings, activator)
    register_frame_agent(app, raw, processor, registry, kafka, settings)

    async def cronos_control() -> None:
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Without the control loop the worker cannot reconcile: fail loudly, let the
            # supervisor restart it.
            log.critical("control task failed: %r", exc)
            await app.crash(exc)
        finally:
            await store.aclose()

    app.task(cronos_control)
    register_monitoring(app, monitoring, store)
    return WorkerRuntime(app, registry, processor, activator, consumer, store, monitoring)
