"""Signed control commands: the model, canonical JSON, signing and verification.

A command travels on ``cronos.control`` as a JSON object whose ``signature`` is the hex
HMAC-SHA256 of the canonical JSON of every other key (:func:`canonical_json`). Verification
recomputes the MAC over the object *as received* (not over a re-serialised model), so the
signature covers exactly the bytes' meaning and never depends on how pydantic normalises values.

Replay (a command id seen before) is not decided here: it needs shared state, see
:meth:`streams.control.state.VersionStore.claim_or_reject`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

import orjson
from pydantic import (
    UUID4,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from streams.errors import CommandRejectedError, SettingsError

Action = Literal["swap", "rollback", "emergency_rollback", "promote", "reload"]
Component = Literal["field_detector", "translation_rules"]
ACTIONS: Final[frozenset[str]] = frozenset(get_args(Action))
COMPONENTS: Final[frozenset[str]] = frozenset(get_args(Component))

VERSION_RE: Final = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
PAIR_RE: Final = re.compile(r"^[a-z0-9_]+->[a-z0-9_]+$")
# Second precision or finer, always UTC with a literal 'Z': one spelling per instant.
_ISSUED_AT_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_SIGNATURE_RE: Final = re.compile(r"^[0-9a-f]{64}$")

#: RFC 2104 advises a key at least as long as the hash output (32 bytes for SHA-256).
MIN_KEY_BYTES: Final = 32
DEFAULT_MAX_AGE_S: Final = 300.0
DEFAULT_MAX_FUTURE_S: Final = 30.0
DEFAULT_MAX_BYTES: Final = 16384

# When a schema error has several causes, report the most specific one.
_LOC_REASONS: Final = (
    (("action",), "unknown_action"),
    (("component",), "unknown_component"),
    (("target", "version"), "bad_version"),
    (("target", "pair"), "bad_pair"),
)


class CommandTarget(BaseModel):
    """What a command acts on; which keys matter depends on the action.

    Attributes:
        version: Semantic version to activate (required for ``swap`` and ``promote``).
        steps: How many activations back a ``rollback`` goes (history entries).
        min_f1: Validation gate for field detectors, 0..1.
        min_accuracy: Validation gate for translation rules, 0..1.
        pair: Protocol pair ``src->dst``; required for ``translation_rules``.
        reason: Free text for the audit trail.
        figures: Named measurements backing the command (e.g. offline F1).
        sha256: The artifact's sha256 (hex), signed with the command: ``swap`` and ``promote``
            load only an artifact with exactly these bytes (``cronos control`` computes it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    version: str | None = Field(default=None, pattern=VERSION_RE.pattern, max_length=64)
    steps: int | None = Field(default=None, ge=1, le=100)
    min_f1: float | None = Field(default=None, ge=0.0, le=1.0)
    min_accuracy: float | None = Field(default=None, ge=0.0, le=1.0)
    pair: str | None = Field(default=None, pattern=PAIR_RE.pattern, max_length=129)
    reason: str | None = Field(default=None, max_length=1000)
    figures: dict[str, float] | None = Field(default=None, max_length=64)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class ControlCommand(BaseModel):
    """One control command, as issued on ``cronos.control``.

    Attributes:
        id: Random UUID4; the replay guard is keyed on it.
        issued_at: Issue time, timezone-aware UTC; serialised as ISO-8601 with ``Z``.
        issuer: Who issued it (``user@host``), for the audit trail.
        action: What to do.
        component: Which model family it applies to.
        target: Parameters of the action.
        signature: Hex HMAC-SHA256 of :func:`canonical_json`; ``None`` before signing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID4
    issued_at: datetime
    issuer: str = Field(min_length=1, max_length=200)
    action: Action
    component: Component
    target: CommandTarget = Field(default_factory=CommandTarget)
    signature: str | None = Field(default=None, pattern=_SIGNATURE_RE.pattern)

    @field_validator("issued_at", mode="before")
    @classmethod
    def _utc_only(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not _ISSUED_AT_RE.match(value):
                raise ValueError("issued_at must be UTC ISO-8601 ending in 'Z'")
            return datetime.fromisoformat(value)
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError("issued_at must be timezone-aware")
            return value.astimezone(UTC)
        raise ValueError("issued_at must be a string or datetime")

    @field_serializer("issued_at")
    def _dump_issued_at(self, value: datetime) -> str:
        return format_utc(value)

    @model_validator(mode="after")
    def _target_fits_action(self) -> ControlCommand:
        if self.action in ("swap", "promote") and self.target.version is None:
            raise ValueError(f"{self.action} needs target.version")
        # State keys are per pair for rules and global for the detector; a pair on a detector
        # command would be silently ignored, so it is refused instead.
        if self.component == "translation_rules" and self.target.pair is None:
            raise ValueError("translation_rules commands need target.pair")
        if self.component == "field_detector" and self.target.pair is not None:
            raise ValueError("field_detector commands take no target.pair")
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict sent on the topic (``None`` values left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def format_utc(value: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with ``Z`` (microseconds only if non-zero)."""
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"


def canonical_json(obj: ControlCommand | Mapping[str, Any]) -> bytes:
    """Canonical bytes the signature covers: every top-level key but ``signature``.

    orjson, keys sorted at every level, no whitespace; equal input gives equal bytes whatever
    the key order. ``obj`` is a command model or the decoded JSON object as received.
    """
    data = obj.to_wire() if isinstance(obj, ControlCommand) else dict(obj)
    data.pop("signature", None)
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise SettingsError(f"HMAC key must be bytes of at least {MIN_KEY_BYTES} bytes")


def compute_signature(obj: ControlCommand | Mapping[str, Any], key: bytes) -> str:
    """Hex HMAC-SHA256 of :func:`canonical_json` of ``obj`` under ``key``."""
    _check_key(key)
    return hmac.new(key, canonical_json(obj), hashlib.sha256).hexdigest()


def sign(cmd: ControlCommand, key: bytes) -> ControlCommand:
    """Return a copy of ``cmd`` carrying its signature (any old signature is replaced)."""
    return cmd.model_copy(update={"signature": compute_signature(cmd, key)})


def encode(cmd: ControlCommand) -> bytes:
    """Serialise a (signed) command to the bytes published on the control topic."""
    return orjson.dumps(cmd.to_wire(), option=orjson.OPT_SORT_KEYS)


def new_command(
    action: str,
    component: str,
    target: Mapping[str, Any] | CommandTarget,
    issuer: str,
    key: bytes,
    *,
    now: datetime | None = None,
) -> tuple[ControlCommand, bytes]:
    """Build, sign and encode a fresh command.

    Args:
        action: One of :data:`ACTIONS`.
        component: One of :data:`COMPONENTS`.
        target: Target parameters (mapping or model).
        issuer: Who issues it.
        key: HMAC key (at least :data:`MIN_KEY_BYTES` bytes).
        now: Issue time; defaults to the current UTC time, to the microsecond (commands are
            ordered fleet-wide by it, and two may be issued within one second).

    Returns:
        The signed command and its wire bytes.

    Raises:
        pydantic.ValidationError: The arguments do not form a valid command.
        SettingsError: ``key`` is too short (a configuration fault, not the command's).
    """
    issued = now or datetime.now(UTC)
    cmd = ControlCommand.model_validate(
        {
            "id": uuid.uuid4(),
            "issued_at": issued,
            "issuer": issuer,
            "action": action,
            "component": component,
            "target": target,
        }
    )
    signed = sign(cmd, key)
    return signed, encode(signed)


def _schema_rejection(exc: ValidationError) -> CommandRejectedError:
    errors = exc.errors()
    by_loc = {tuple(err["loc"]): err for err in errors}
    reason, err = "malformed", errors[0]
    for loc, candidate in _LOC_REASONS:
        if loc in by_loc:
            reason, err = candidate, by_loc[loc]
            break
    where = ".".join(str(p) for p in err["loc"]) or "command"
    return CommandRejectedError(reason, f"{where}: {err['msg']}")


def verify(
    raw: bytes,
    key: bytes,
    *,
    now: datetime,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    max_future_s: float = DEFAULT_MAX_FUTURE_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ControlCommand:
    """Check a command received from the control topic and return it parsed.

    Order: size, JSON, signature present, signature valid, schema, freshness. The MAC is
    checked before the schema so an unauthenticated sender learns nothing from the reason.

    Args:
        raw: The message value as received.
        key: HMAC key.
        now: Current time, timezone-aware (injected so tests and replicas agree).
        max_age_s: Oldest accepted ``issued_at``, seconds before ``now``.
        max_future_s: Tolerated clock skew, seconds after ``now``.
        max_bytes: Largest accepted message.

    Returns:
        The verified command.

    Raises:
        CommandRejectedError: With ``reason`` one of ``oversized``, ``malformed``, ``unsigned``,
            ``bad_signature``, ``unknown_action``, ``unknown_component``, ``bad_version``,
            ``bad_pair``, ``stale``, ``future``.
        SettingsError: ``key`` is too short.
    """
    _check_key(key)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if len(raw) > max_bytes:
        raise CommandRejectedError("oversized", f"{len(raw)} bytes > {max_bytes}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandRejectedError("malformed", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CommandRejectedError("malformed", "command is not a JSON object")

    given = data.get("signature")
    if given is None or given == "":
        raise CommandRejectedError("unsigned", "no signature")
    if not isinstance(given, str) or not _SIGNATURE_RE.match(given.lower()):
        raise CommandRejectedError("bad_signature", "signature is not 64 hex digits")
    expected = compute_signature(data, key)
    if not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise CommandRejectedError("bad_signature", "signature does not match")

    data["signature"] = given.lower()
    try:
        cmd = ControlCommand.model_validate(data)
    except ValidationError as exc:
        raise _schema_rejection(exc) from None

    age_s = (now - cmd.issued_at).total_seconds()
    if age_s > max_age_s:
        raise CommandRejectedError("stale", f"issued {age_s:.0f} s ago > {max_age_s:g} s")
    if -age_s > max_future_s:
        raise CommandRejectedError("future", f"issued {-age_s:.0f} s ahead > {max_future_s:g} s")
    return cmd
