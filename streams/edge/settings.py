"""Settings of the edge adapters: the MQTT connection, the MQTT sink and the Modbus ingest.

Frozen pydantic-settings read from the environment (``CRONOS_`` prefix), like the worker's.
The MQTT password is a ``SecretStr``: its repr and str are masked, so a logged settings object
never shows it, and :meth:`MqttSettings.describe` is what logs print. Kafka connection settings
are the worker's :class:`~streams.worker.settings.KafkaSettings` (``CRONOS_KAFKA_*``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MqttSettings(BaseSettings):
    """Connection to an MQTT broker (``CRONOS_MQTT_`` prefix).

    Attributes:
        host: Broker host.
        port: Broker port (1883 plain, 8883 usually for TLS).
        username: User name, if the broker wants one.
        password: Password (secret; never logged).
        tls: Connect over TLS.
        ca_file: CA bundle that signs the broker certificate (system store when unset).
        cert_file: Client certificate for mutual TLS.
        key_file: Key of the client certificate.
        tls_insecure: Skip host-name verification (test brokers with self-signed certificates).
        client_id: MQTT client id; empty lets the client pick a random one.
        keepalive_s: MQTT keepalive; a dead broker is noticed within about 1.5 × this.
        connect_timeout_s: How long one connection attempt may take.
        publish_timeout_s: How long a PUBLISH may wait for its PUBACK before it counts as failed.
        max_inflight: QoS ≥ 1 messages awaiting acknowledgement at once.
    """

    model_config = SettingsConfigDict(
        env_prefix="CRONOS_MQTT_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    client_id: str = ""
    keepalive_s: int = Field(default=10, ge=1, le=65535)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    max_inflight: int = Field(default=256, ge=1, le=65535)

    @model_validator(mode="after")
    def _tls_files_need_tls(self) -> MqttSettings:
        if (self.ca_file or self.cert_file) and not self.tls:
            raise ValueError("ca_file/cert_file are set but tls is off (CRONOS_MQTT_TLS=true)")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file")
        return self

    def describe(self) -> str:
        """``mqtt[s]://[user@]host:port`` for logs (never the password)."""
        user = f"{self.username}@" if self.username else ""
        return f"mqtt{'s' if self.tls else ''}://{user}{self.host}:{self.port}"


class SinkSettings(BaseSettings):
    """How translated MQTT frames are handed to the broker (``CRONOS_SINK_`` prefix).

    Attributes:
        topic: Kafka topic of translated frames (the worker's ``{prefix}mqtt``).
        group_id: Consumer group of the sink replicas.
        dlq_topic: Dead-letter topic for messages that cannot be delivered.
        qos: MQTT QoS of every publish; at least 1, so that a PUBACK proves delivery.
        retain: Retain flag; ``None`` keeps the flag of the translated packet.
        batch_size: Most records fetched (and published concurrently) at once.
        max_attempts: Publishes of one message that fail while the broker is connected before
            it is dead-lettered (connection outages are waited out, never counted).
        max_payload_bytes: Larger payloads are dead-lettered unsent.
        backoff_s: First reconnect delay; doubles up to ``max_backoff_s``.
        max_backoff_s: Longest reconnect delay.
        fetch_max_wait_s: Longest a fetch waits for data. Apache Kafka answers as soon as data
            arrives; tansu (the dev broker) waits this long every time, so it bounds latency.
    """

    model_config = SettingsConfigDict(env_prefix="CRONOS_SINK_", frozen=True, extra="ignore")

    topic: str = "cronos.frames.mqtt"
    group_id: str = Field(default="cronos-mqtt-sink", min_length=1, max_length=200)
    dlq_topic: str = "cronos.frames.dlq"
    qos: Literal[1, 2] = 1
    retain: bool | None = None
    batch_size: int = Field(default=256, ge=1, le=10_000)
    max_attempts: int = Field(default=5, ge=1)
    max_payload_bytes: int = Field(default=1 << 20, ge=1, le=268_435_455)
    backoff_s: float = Field(default=0.2, gt=0)
    max_backoff_s: float = Field(default=5.0, gt=0)
    fetch_max_wait_s: float = Field(default=0.05, gt=0, le=10)


class IngestSettings(BaseSettings):
    """How the Modbus ingest talks to the device and to Kafka (``CRONOS_MODBUS_`` prefix).

    Attributes:
        topic: Kafka topic raw frames go to.
        source: ``source`` header and record key; default ``modbus://host:port/unit``.
        target: ``target`` header put on responses (the worker's translation route); empty
            for none. Requests never get one: they are not translated.
        timeout_s: How long one request may wait for its response.
        backoff_s: First reconnect delay; doubles up to ``max_backoff_s``.
        max_backoff_s: Longest reconnect delay.
    """

    model_config = SettingsConfigDict(env_prefix="CRONOS_MODBUS_", frozen=True, extra="ignore")

    topic: str = "cronos.frames.raw"
    source: str | None = None
    target: str = "mqtt"
    timeout_s: float = Field(default=2.0, gt=0)
    backoff_s: float = Field(default=0.2, gt=0)
    max_backoff_s: float = Field(default=10.0, gt=0)
