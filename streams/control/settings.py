"""Settings for control-command verification and the Redis state store.

Frozen pydantic-settings read from the environment (``CRONOS_`` prefix). Secrets (the HMAC key,
a Redis URL that may carry a password) are ``SecretStr``: their repr and str are masked, so a
logged settings object never shows them. Kafka settings live in their own module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.control.command import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_FUTURE_S,
    MIN_KEY_BYTES,
)
from streams.errors import SettingsError


class ControlSettings(BaseSettings):
    """How control commands are verified.

    The HMAC key comes from ``CRONOS_CONTROL_HMAC_KEY`` or from the file named by
    ``CRONOS_CONTROL_HMAC_KEY_FILE`` (e.g. a mounted secret) — exactly one of them. There is
    no default key.

    Attributes:
        control_hmac_key: The key itself (UTF-8 encoded for use).
        control_hmac_key_file: File holding the key; surrounding whitespace is stripped.
        control_max_age_s: Oldest accepted command, seconds.
        control_max_future_s: Tolerated clock skew into the future, seconds.
        control_max_bytes: Largest accepted command message, bytes.
        control_replay_ttl_s: How long a seen command id is remembered, seconds (also the
            lifetime of the fleet-wide ``applied:{id}`` marker).
        control_require_sha256: Refuse ``swap``/``promote`` commands that do not carry the
            artifact's sha256 in ``target.sha256`` (the bytes an operator signed for).
    """

    model_config = SettingsConfigDict(
        env_prefix="CRONOS_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    control_hmac_key: SecretStr | None = None
    control_hmac_key_file: Path | None = None
    control_max_age_s: float = Field(default=DEFAULT_MAX_AGE_S, gt=0)
    control_max_future_s: float = Field(default=DEFAULT_MAX_FUTURE_S, ge=0)
    control_max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=256, le=1 << 20)
    control_replay_ttl_s: int = Field(default=86_400, gt=0)
    control_require_sha256: bool = True

    @model_validator(mode="after")
    def _replay_outlives_window(self) -> ControlSettings:
        # A command must stay "seen" for as long as it is fresh, else it could be replayed
        # after its guard expires.
        if self.control_replay_ttl_s <= self.control_max_age_s + self.control_max_future_s:
            raise ValueError("control_replay_ttl_s must exceed max_age_s + max_future_s")
        return self

    def hmac_key(self) -> bytes:
        """The HMAC key as bytes.

        Raises:
            SettingsError: No key, both sources set, unreadable file, or key too short.
        """
        if (self.control_hmac_key is None) == (self.control_hmac_key_file is None):
            raise SettingsError(
                "set exactly one of CRONOS_CONTROL_HMAC_KEY and CRONOS_CONTROL_HMAC_KEY_FILE"
            )
        if self.control_hmac_key is not None:
            key = self.control_hmac_key.get_secret_value().strip().encode()
        else:
            assert self.control_hmac_key_file is not None
            try:
                key = self.control_hmac_key_file.read_bytes().strip()
            except OSError as exc:
                # The path is not secret; the content never appears in a message.
                raise SettingsError(
                    f"cannot read HMAC key file {self.control_hmac_key_file}"
                ) from exc
        if len(key) < MIN_KEY_BYTES:
            raise SettingsError(f"HMAC key is shorter than {MIN_KEY_BYTES} bytes")
        return key


class RedisSettings(BaseSettings):
    """Where the state store lives (``CRONOS_REDIS_`` prefix).

    Attributes:
        url: ``redis://[:password@]host:port/db`` or ``rediss://`` (TLS); secret because it may
            hold a password.
        password_file: File holding the Redis password (a mounted secret); wins over a password
            in the URL.
        ssl_ca_certs: CA bundle for ``rediss://`` (system CAs if unset).
        key_prefix: Prepended to every key, so deployments can share one Redis.
        socket_timeout_s: Per-command timeout, seconds.
        connect_timeout_s: Connection timeout, seconds.
    """

    model_config = SettingsConfigDict(
        env_prefix="CRONOS_REDIS_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = Field(default="cronos:", min_length=1, max_length=100)
    socket_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    password_file: Path | None = None
    ssl_ca_certs: Path | None = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError("url must start with redis://, rediss:// or unix://")
        return value

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Redis.from_url`` beside the URL (password, TLS, timeouts).

        Raises:
            SettingsError: The password file cannot be read (its content is never shown).
        """
        options: dict[str, Any] = {
            "socket_timeout": self.socket_timeout_s,
            "socket_connect_timeout": self.connect_timeout_s,
        }
        if self.password_file is not None:
            try:
                options["password"] = self.password_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(
                    f"cannot read Redis password file {self.password_file}"
                ) from exc
        if self.ssl_ca_certs is not None:
            options["ssl_ca_certs"] = str(self.ssl_ca_certs)
        return options

    @field_validator("key_prefix")
    @classmethod
    def _no_whitespace(cls, value: str) -> str:
        if any(ch.isspace() for ch in value):
            raise ValueError("key_prefix must not contain whitespace")
        return value

    def safe_url(self) -> str:
        """The URL with any user and password masked, fit for logs."""
        return redact_url(self.url.get_secret_value())


def redact_url(url: str) -> str:
    """Mask the credentials of a URL: ``redis://u:pw@h:1/0`` → ``redis://***@h:1/0``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    # redis-py also accepts ?password=...; drop a query that may carry one.
    query = "***" if "password" in parts.query.lower() else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
