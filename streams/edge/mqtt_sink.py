"""The MQTT sink: translated frames from Kafka to an MQTT broker, at least once.

Each record of the translated topic (``cronos.frames.mqtt``) holds the MQTT PUBLISH packets built
by the translation rules (one, or several back to back: a tag map publishing one topic per tag);
each packet's topic and payload are published to the broker at QoS ≥ 1.

Delivery contract (at-least-once, as docs/architecture.md asks of every stage):

* offsets are committed by hand (``enable_auto_commit=False``), once per fetched batch, and only
  after every message of every record of the batch was either acknowledged by the broker
  (PUBACK for QoS 1, PUBCOMP for QoS 2) or written to the dead-letter topic and acknowledged by
  Kafka;
* a publish that fails because the connection dropped is republished on the next connection,
  however long the broker stays away (a stalled partition beats a skipped message);
* a message the broker does not acknowledge on a live connection ``max_attempts`` times, or one
  that can never be sent (not a PUBLISH packet, payload over ``max_payload_bytes``), goes to the
  dead-letter topic with ``error``/``detail``/``stage=egress`` headers and the original bytes.

A crash or rebalance between a PUBACK and the commit republishes that batch: duplicates are
possible, losses are not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord

from engine.errors import EngineError
from engine.translation.mqtt import MqttPublishCodec, split_packets
from engine.translation.spec import Framing, ProtocolSpecification, ProtocolType
from streams.edge.edge_metrics import MQTT_PUBLISHES, SINK_DEAD_LETTERS
from streams.edge.mqtt_client import MqttLink, PublishError
from streams.edge.settings import SinkSettings
from streams.errors import StreamsError
from streams.worker.deadletter import ERROR_HEADERS, MAX_DETAIL_BYTES
from streams.worker.results import Headers
from streams.worker.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Machine-readable reasons of the sink's dead letters (they label a metric: a closed set).
SINK_REASONS: Final = frozenset({"malformed_publish", "payload_too_large", "publish_failed"})
STAGE: Final = "egress"
_CODEC: Final = MqttPublishCodec(
    ProtocolSpecification(
        protocol_id="mqtt",
        protocol_type=ProtocolType.MQTT,
        framing=Framing.MQTT_PUBLISH,
        fields=[],
    )
)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class UndeliverableError(StreamsError):
    """A record that can never be published; ``reason`` is one of :data:`SINK_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Message:
    """What one record asks the sink to publish."""

    topic: str
    payload: bytes
    retain: bool


def decode_publish(value: bytes | None, max_payload_bytes: int) -> list[Message]:
    """Topic, payload and retain flag of each PUBLISH packet of one translated record.

    Raises:
        UndeliverableError: Not canonical MQTT PUBLISH packets, or a payload is too large (the
            whole record is refused: none of its messages is published).
    """
    try:
        packets = [_CODEC.parse(packet) for packet in split_packets(value or b"")]
    except EngineError as exc:
        raise UndeliverableError("malformed_publish", str(exc)) from exc
    out = []
    for values in packets:
        payload: bytes = values["payload"]
        if len(payload) > max_payload_bytes:
            detail = f"{len(payload)} bytes > {max_payload_bytes}"
            raise UndeliverableError("payload_too_large", detail)
        out.append(Message(values["topic"], payload, bool(values["retain"])))
    return out


def dead_letter_headers(headers: Headers, reason: str, detail: str) -> Headers:
    """Original headers (minus stale error headers) plus ``error``, ``detail``, ``stage``."""
    kept = [(k, v) for k, v in headers if k not in ERROR_HEADERS]
    text = detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]
    return [*kept, ("error", reason.encode()), ("detail", text), ("stage", STAGE.encode())]


class MqttSink:
    """Consumes translated frames in a consumer group and publishes them to MQTT.

    Args:
        kafka: Broker address and consumer-group timings.
        settings: Topic, group, QoS, retain, attempts.
        link: The MQTT connection.
    """

    def __init__(self, kafka: KafkaSettings, settings: SinkSettings, link: MqttLink) -> None:
        self.kafka = kafka
        self.settings = settings
        self.link = link
        self.delivered = 0  #: acknowledged publishes (for tests and the CLI summary)
        self.dead_lettered = 0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set or the task is cancelled (uncommitted work is redone)."""
        stop = stop or asyncio.Event()
        auth = self.kafka.client_auth()  # SASL/SSL, where configured
        consumer = AIOKafkaConsumer(
            self.settings.topic,
            bootstrap_servers=self.kafka.bootstrap_servers,
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(self.kafka.session_timeout_s * 1000),
            heartbeat_interval_ms=int(self.kafka.heartbeat_interval_s * 1000),
            rebalance_timeout_ms=int(self.kafka.rebalance_timeout_s * 1000),
            fetch_max_wait_ms=int(self.settings.fetch_max_wait_s * 1000),
            **auth,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers, acks="all", **auth
        )
        await producer.start()
        await consumer.start()
        try:
            await self.link.connect()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=self.settings.batch_size)
                if not batch:
                    continue
                records = [r for recs in batch.values() for r in recs]
                await self._deliver(records, producer)
                await self._commit(consumer, batch)
        finally:
            await consumer.stop()
            await producer.stop()
            await self.link.close()

    async def _commit(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[Record]]
    ) -> None:
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
        try:
            await consumer.commit(offsets)
        except CommitFailedError as exc:
            # The partitions moved to another member, which starts from the last commit:
            # this batch will be published again there (a duplicate, never a loss).
            log.warning("commit refused after a rebalance: %s", exc)

    async def _deliver(self, records: Sequence[Record], producer: AIOKafkaProducer) -> None:
        # One entry per message; a record of several packets has several (all must be acked).
        pending: dict[int, tuple[Record, Message]] = {}
        dead: list[tuple[Record, str, str]] = []
        dead_records: set[int] = set()
        for rec in records:
            try:
                messages = decode_publish(rec.value, self.settings.max_payload_bytes)
            except UndeliverableError as exc:
                dead.append((rec, exc.reason, exc.detail))
                continue
            for msg in messages:
                pending[len(pending)] = (rec, msg)
        attempts = dict.fromkeys(pending, 0)
        delay = self.settings.backoff_s
        while pending:
            await self.link.connect()
            keys = list(pending)
            outcomes = await asyncio.gather(
                *(self._publish(pending[k][1]) for k in keys), return_exceptions=True
            )
            lost = False
            for key, outcome in zip(keys, outcomes, strict=True):
                if outcome is None:
                    del pending[key]
                    self.delivered += 1
                    MQTT_PUBLISHES.labels(outcome="acked").inc()
                    continue
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                if not isinstance(outcome, PublishError):
                    raise outcome
                MQTT_PUBLISHES.labels(outcome="failed").inc()
                lost = lost or outcome.connection_lost
                if outcome.connection_lost:
                    continue  # not the message's fault: wait for the broker, not counted
                attempts[key] += 1
                if attempts[key] >= self.settings.max_attempts:
                    rec, _ = pending.pop(key)
                    if id(rec) not in dead_records:  # a record is dead-lettered once, whole
                        dead_records.add(id(rec))
                        detail = f"{attempts[key]} publishes unacknowledged; last: {outcome}"
                        dead.append((rec, "publish_failed", detail))
            if lost:
                log.warning("mqtt: %d messages to republish after a lost connection", len(pending))
                await self.link.reset()
            elif pending:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.max_backoff_s)
        if dead:
            await self._dead_letter(dead, producer)

    async def _publish(self, msg: Message) -> None:
        retain = msg.retain if self.settings.retain is None else self.settings.retain
        await self.link.publish(msg.topic, msg.payload, self.settings.qos, retain)

    async def _dead_letter(
        self, dead: Sequence[tuple[Record, str, str]], producer: AIOKafkaProducer
    ) -> None:
        futures = []
        for rec, reason, detail in dead:
            log.warning(
                "dead-lettering %s-%d@%d: %s: %s",
                rec.topic,
                rec.partition,
                rec.offset,
                reason,
                detail,
            )
            headers = dead_letter_headers([(k, bytes(v)) for k, v in rec.headers], reason, detail)
            futures.append(
                await producer.send(
                    self.settings.dlq_topic, rec.value or b"", key=rec.key, headers=headers
                )
            )
        # An unacknowledged dead letter raises here, so the batch is not committed.
        await asyncio.gather(*futures)
        for _, reason, _ in dead:
            self.dead_lettered += 1
            MQTT_PUBLISHES.labels(outcome="dead_letter").inc()
            SINK_DEAD_LETTERS.labels(reason=reason).inc()
