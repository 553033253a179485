"""Settings of the streaming worker: Kafka connection, topic names and batch processing.

Frozen pydantic-settings read from the environment, so the same worker runs against the dev
stack and production Apache Kafka by settings alone::

    CRONOS_KAFKA_BROKER=kafka-1:9092,kafka-2:9092   CRONOS_REDIS_URL=redis://redis:6379/0
    CRONOS_WORKER_ID=worker-a   CRONOS_ROUTES='{"modbus": "mqtt"}'   CRONOS_ARTIFACT_ROOT=/artifacts

Redis and control-command settings live in :mod:`streams.control.settings`.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.control.command import PAIR_RE, VERSION_RE
from streams.errors import SettingsError

MIN_STATUS_TOKEN_LEN = 16


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


#: The worker's producer request limit (Faust's ``producer_max_request_size``), bytes.
PRODUCER_MAX_REQUEST_BYTES: Final = 1_000_000


class KafkaSettings(BaseSettings):
    """Broker connection, consumer-group timing and topic names (``CRONOS_KAFKA_`` prefix).

    Attributes:
        broker: Comma-separated ``host:port`` bootstrap list (a ``kafka://`` prefix is allowed).
        group_id: Consumer group of the frame agents (also the Faust app id).
        topic_raw: Input frames.
        topic_results: One JSON result per frame.
        topic_dlq: Dead letters (original bytes and headers plus error headers).
        topic_control: Signed control commands (read in full by every worker).
        topic_control_events: One event per worker per command.
        topic_translated_prefix: Translated bytes go to ``{prefix}{target}``.
        session_timeout_s: Consumer-group session timeout; a killed worker's partitions move
            after this long.
        rebalance_timeout_s: How long a rebalance may take.
        heartbeat_interval_s: Group heartbeat period.
        commit_interval_s: How often acknowledged offsets are committed.
        fetch_max_wait_ms: Longest time the frame consumer's fetch waits for records (faust
            fixes 1500 ms; a broker that holds an empty fetch that long, as tansu does, adds it
            to every frame's latency under light load).
        create_topics: Create missing topics at start (dev and tests; production topics are
            provisioned by the platform).
        topic_partitions: Partitions for topics the worker creates.
        security_protocol: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
        sasl_mechanism: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``.
        sasl_username: SASL user.
        sasl_password: SASL password (secret; or ``sasl_password_file``, not both).
        sasl_password_file: File holding the SASL password (a mounted secret).
        ssl_cafile: CA bundle that signs the brokers' certificates (system CAs if unset).
        ssl_certfile: Client certificate for mutual TLS.
        ssl_keyfile: Key of ``ssl_certfile``.
    """

    # hide_input_in_errors: a rejected value (it may be a password) never appears in the error.
    model_config = SettingsConfigDict(
        env_prefix="CRONOS_KAFKA_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    broker: str = "127.0.0.1:9092"
    group_id: str = Field(default="cronos-worker", min_length=1, max_length=200)
    topic_raw: str = "cronos.frames.raw"
    topic_results: str = "cronos.frames.results"
    topic_dlq: str = "cronos.frames.dlq"
    topic_control: str = "cronos.control"
    topic_control_events: str = "cronos.control.events"
    topic_translated_prefix: str = "cronos.frames."
    session_timeout_s: float = Field(default=30.0, gt=0)
    rebalance_timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_interval_s: float = Field(default=3.0, gt=0)
    commit_interval_s: float = Field(default=1.0, gt=0)
    fetch_max_wait_ms: int = Field(default=20, ge=1, le=60_000)
    create_topics: bool = False
    topic_partitions: int = Field(default=4, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @model_validator(mode="after")
    def _auth_complete(self) -> KafkaSettings:
        if self.sasl_password is not None and self.sasl_password_file is not None:
            raise ValueError("set sasl_password or sasl_password_file, not both")
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            raise ValueError(f"{self.security_protocol} needs sasl_username")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        return self

    def sasl_secret(self) -> str | None:
        """The SASL password, from the setting or its file (whitespace stripped).

        Raises:
            SettingsError: The password file cannot be read (its content is never shown).
        """
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is None:
            return None
        try:
            return self.sasl_password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"cannot read SASL password file {self.sasl_password_file}"
            ) from exc

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client TLS context for ``SSL``/``SASL_SSL``; ``None`` for plaintext.

        Raises:
            SettingsError: A CA, certificate or key file cannot be loaded.
        """
        if not self.security_protocol.endswith("SSL"):
            return None
        try:
            context = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
            if self.ssl_certfile is not None:
                context.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile))
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"cannot build the Kafka TLS context: {exc}") from exc
        return context

    def client_auth(self) -> dict[str, Any]:
        """Keyword arguments that authenticate an aiokafka producer, consumer or admin client."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        auth: dict[str, Any] = {
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context(),
        }
        if self.security_protocol.startswith("SASL"):
            auth |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_secret(),
            }
        return auth

    @field_validator("broker")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        hosts = [h.strip().removeprefix("kafka://") for h in value.split(",") if h.strip()]
        if not hosts or any(":" not in h for h in hosts):
            raise ValueError("broker must be 'host:port[,host:port...]'")
        return ",".join(hosts)

    @property
    def bootstrap_servers(self) -> list[str]:
        """The bootstrap list as aiokafka wants it."""
        return self.broker.split(",")

    def translated_topic(self, target: str) -> str:
        """Topic that carries frames translated to ``target``."""
        return f"{self.topic_translated_prefix}{target}"


class WorkerSettings(BaseSettings):
    """How one worker processes frames (``CRONOS_`` prefix).

    Attributes:
        worker_id: Unique per replica; names events and the per-worker replay guard.
        batch_size: Most frames handed to the detector at once.
        batch_window_s: Longest wait for a batch to fill.
        pipeline_depth: Batches in flight at once: with 2, one batch is detected while the
            previous one is published and faust fills the next; 1 processes strictly one after
            another. Offsets are committed only after a batch is published either way.
        routes: Default translation target per source protocol, e.g. ``{"modbus": "mqtt"}``;
            a frame's ``target`` header wins over it.
        default_protocol: Protocol assumed when a frame has no ``protocol`` header.
        artifact_root: Directory holding ``field_detector/`` and ``translation_rules/``.
        max_frame_bytes: Larger frames (bytes plus headers) are dead-lettered unread.
        max_result_bytes: A larger result is dead-lettered (stage ``serialise``).
        max_record_bytes: Largest record the worker produces (key, value and headers); a
            result or translated frame over it becomes a dead letter, a dead letter over it is
            cut to a stub. Below the producer's request limit
            (:data:`PRODUCER_MAX_REQUEST_BYTES`), so the broker never refuses one for size.
        result_headers: Input headers copied onto results and translated frames (the rest
            stay on the input record; a dead letter keeps them all while it fits).
        initial_detector_version: Version activated when Redis has no pointer yet.
        seed_default_model: With no pointer and no ``initial_detector_version``, copy the
            shipped default model into ``artifact_root`` and activate it; off, such a worker
            fails at start (:mod:`streams.control.seeding`).
        validation_set: Labelled JSONL used to score candidates when a command sets min_f1.
        rules_validation_set: JSONL of ``{"source_hex": ..., "target_hex": ...}`` frame pairs
            on which a rule set's accuracy is computed when a command sets ``min_accuracy``
            (the accuracy a rules file declares about itself is never trusted).
        warmup_frames: Frames run through a candidate before it is swapped in.
        reconcile_interval_s: How often the active versions are compared with Redis.
        data_dir: Faust's data directory.
        metrics_port: Port of the HTTP endpoint (``/metrics``, ``/status``, ``/status.json``,
            ``/healthz``, ``/readyz``); 0 disables it.
        metrics_host: Address that endpoint binds: loopback by default; ``0.0.0.0`` in a
            container, where the probes and Prometheus come from outside.
        status_token: Bearer token every endpoint but ``/healthz`` and ``/readyz`` then
            requires (``Authorization: Bearer <token>``); unset, the endpoint is open.
        status_token_file: File holding that token (a mounted secret; not both).
        detector_threads: Torch intra-op threads for inference; 0 (the default) uses all cores
            but one, at least one, so the event loop that publishes one batch while the next is
            detected keeps a core of its own.
    """

    model_config = SettingsConfigDict(
        env_prefix="CRONOS_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    worker_id: str = Field(default_factory=_default_worker_id, min_length=1, max_length=100)
    # Measured by bench/e2e_throughput.py: 64 → 512 doubles throughput on real captures (a
    # detector call costs less per frame when long); the short window keeps latency low when
    # traffic is light, and under load batches fill before it expires.
    batch_size: int = Field(default=512, ge=1, le=10_000)
    batch_window_s: float = Field(default=0.02, gt=0, le=60)
    pipeline_depth: int = Field(default=2, ge=1, le=8)
    routes: dict[str, str] = Field(default_factory=dict)
    default_protocol: str = "unknown"
    artifact_root: Path = Path("checkpoints")
    max_frame_bytes: int = Field(default=64 * 1024, ge=1)
    max_result_bytes: int = Field(default=512 * 1024, ge=256)
    max_record_bytes: int = Field(default=960 * 1024, ge=4096)
    result_headers: tuple[str, ...] = ("protocol", "target", "frame-id", "source", "direction")
    initial_detector_version: str | None = Field(default=None, pattern=VERSION_RE.pattern)
    seed_default_model: bool = True
    validation_set: Path | None = None
    rules_validation_set: Path | None = None
    warmup_frames: int = Field(default=16, ge=1, le=1024)
    reconcile_interval_s: float = Field(default=30.0, gt=0)
    data_dir: Path = Path(".cronos/worker")
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = Field(default="127.0.0.1", min_length=1)
    status_token: SecretStr | None = None
    status_token_file: Path | None = None
    detector_threads: int = Field(default=0, ge=0)

    def inference_threads(self) -> int:
        """Torch intra-op threads to set: ``detector_threads``, or all cores but one."""
        if self.detector_threads:
            return self.detector_threads
        return max(1, (os.cpu_count() or 1) - 1)

    @model_validator(mode="after")
    def _records_fit_requests(self) -> WorkerSettings:
        # A record the producer would refuse for size is retried for ever by no one: it must
        # never be built. Request framing needs a little room beside the record itself.
        if self.max_record_bytes > PRODUCER_MAX_REQUEST_BYTES - 16 * 1024:
            raise ValueError(
                f"max_record_bytes must stay below {PRODUCER_MAX_REQUEST_BYTES - 16 * 1024}"
            )
        return self

    @model_validator(mode="after")
    def _one_token_source(self) -> WorkerSettings:
        if self.status_token is not None and self.status_token_file is not None:
            raise ValueError("set status_token or status_token_file, not both")
        return self

    def status_bearer_token(self) -> str | None:
        """The status endpoint's bearer token, from the setting or its file (stripped).

        Raises:
            SettingsError: The file cannot be read, or the token is shorter than
                ``MIN_STATUS_TOKEN_LEN`` characters (its content is never shown).
        """
        if self.status_token is not None:
            token = self.status_token.get_secret_value().strip()
        elif self.status_token_file is not None:
            try:
                token = self.status_token_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(
                    f"cannot read status token file {self.status_token_file}"
                ) from exc
        else:
            return None
        if len(token) < MIN_STATUS_TOKEN_LEN:
            raise SettingsError(f"status token is shorter than {MIN_STATUS_TOKEN_LEN} characters")
        return token

    @field_validator("worker_id")
    @classmethod
    def _safe_worker_id(cls, value: str) -> str:
        # The id is part of Redis keys and Kafka keys: no whitespace or key separators.
        if any(ch.isspace() or ch == ":" for ch in value):
            raise ValueError("worker_id must not contain whitespace or ':'")
        return value

    @field_validator("routes")
    @classmethod
    def _valid_routes(cls, value: dict[str, str]) -> dict[str, str]:
        for src, dst in value.items():
            if not PAIR_RE.match(f"{src}->{dst}"):
                raise ValueError(f"route {src!r} -> {dst!r} is not a protocol pair")
        return value
