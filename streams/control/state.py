"""Redis state: active version pointers, history, known-good versions, replay guard, locks.

Keys (after a configurable prefix, default ``cronos:``)::

    active:{component}[:{pair}]      hash   version, path, sha256, activated_at, command_id,
                                            order, signature
    history:{component}[:{pair}]     list   JSON entries, newest first (LPUSH), trimmed
    known_good:{component}[:{pair}]  hash   same fields as active
    seen:{worker_id}:{command_id}    string per-worker idempotency guard, with TTL
    applied:{command_id}             string fleet-wide: this command once moved a pointer, TTL
    lock:{name}                      string random token of the holder, with TTL

The pointer is the source of truth and only changes through a Lua compare-and-set, so N
workers applying one command change it once. ``order`` is the applying command's
``issued_at`` in microseconds since the epoch (0 for a bootstrap seed): the compare-and-set
refuses a command that is not newer than the one that set the pointer, so a captured command
replayed to a new replica cannot move the fleet back. Lua scripts touch several keys, so on Redis
Cluster all keys of one component/pair would need one hash slot; we run a single Redis.
Every redis error is wrapped in :class:`~streams.errors.StateError`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from streams.control.command import COMPONENTS, PAIR_RE, format_utc
from streams.control.settings import RedisSettings
from streams.errors import CommandRejectedError, StateError

# KEYS: active pointer, history list, applied:{command id} marker.
# ARGV: has_expected ('0'|'1'), expected version, command id, history entry ('' = none),
# history cap, the new pointer's order, the marker's TTL in s ('0' = no marker), then field/value
# pairs of the new pointer. Returns 1 when the pointer was replaced, 0 when it no longer holds the
# expected version (or already carries this command: a worker that read the pointer after another
# one applied the command must not apply, and log, it a second time), -1 when the command is not
# newer than the one that set the pointer (order: microseconds of issued_at; 0 means unordered:
# a bootstrap seed, or a pointer written before orders existed, accepts any command).
_CAS_LUA: Final = """
local cur = redis.call('HMGET', KEYS[1], 'version', 'command_id', 'order')
if cur[2] == ARGV[3] then return 0 end
if ARGV[1] == '1' then
  if cur[1] ~= ARGV[2] then return 0 end
elseif cur[1] then
  return 0
end
local held = tonumber(cur[3] or '0') or 0
if held > 0 and tonumber(ARGV[6]) <= held then return -1 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
if ARGV[7] ~= '0' then
  redis.call('SET', KEYS[3], '1', 'EX', tonumber(ARGV[7]))
end
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[4])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
end
return 1
"""

# Delete the lock only if we still hold it: after our TTL expired another worker may own it.
_RELEASE_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_POINTER_FIELDS: Final = ("version", "path", "sha256", "activated_at", "command_id")
#: Fields added later: a pointer written before them reads as order 0 and unsigned.
_OPTIONAL_FIELDS: Final = ("order", "signature")


def command_order(issued_at: datetime) -> int:
    """A command's place in the fleet-wide order: ``issued_at`` in microseconds since 1970."""
    delta = issued_at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class VersionPointer:
    """Which artifact a component runs (the ``active`` and ``known_good`` hashes).

    Attributes:
        order: :func:`command_order` of the command that set it; 0 for a bootstrap seed.
        signature: HMAC of the other fields with the control key
            (:func:`streams.control.pointer_seal.seal`); empty when unsigned.
    """

    version: str
    path: str
    sha256: str
    command_id: str
    activated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    order: int = 0
    signature: str = ""

    def to_mapping(self) -> dict[str, str]:
        """Flat string mapping stored in the Redis hash."""
        fields = {name: str(getattr(self, name)) for name in _POINTER_FIELDS}
        return fields | {
            "activated_at": format_utc(self.activated_at),
            "order": str(self.order),
            "signature": self.signature,
        }

    @classmethod
    def from_mapping(cls, raw: Mapping[Any, Any]) -> VersionPointer:
        """Parse a hash as returned by HGETALL (bytes or str keys)."""
        data = {_text(k): _text(v) for k, v in raw.items()}
        missing = [name for name in _POINTER_FIELDS if name not in data]
        if missing:
            raise StateError(f"version pointer lacks {', '.join(missing)}")
        fields: dict[str, Any] = {name: data[name] for name in _POINTER_FIELDS}
        fields["activated_at"] = datetime.fromisoformat(data["activated_at"])
        try:
            fields["order"] = int(data.get("order") or 0)
        except ValueError as exc:
            raise StateError(f"version pointer has a bad order {data['order'][:32]!r}") from exc
        fields["signature"] = data.get("signature", "")
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of the audit trail (activation, rollback, refusal)."""

    action: str
    from_version: str | None
    to_version: str | None
    command_id: str
    issuer: str
    outcome: str
    reason: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: sha256 of the artifact an applied entry activated (rollbacks check against it).
    sha256: str | None = None

    def to_json(self) -> bytes:
        """JSON form stored in the history list."""
        data = asdict(self)
        data["at"] = format_utc(self.at)
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, raw: bytes | str) -> HistoryEntry:
        """Parse an entry written by :meth:`to_json`."""
        data = orjson.loads(raw)
        data["at"] = datetime.fromisoformat(data["at"])
        return cls(**data)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def _wrapped(operation: str) -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        # str(exc) names host:port at most; the URL (and its password) is never in it.
        raise StateError(f"redis {operation} failed: {type(exc).__name__}: {exc}") from exc


class VersionStore:
    """Async access to the version state in Redis.

    Args:
        redis: A ``redis.asyncio.Redis`` client (either ``decode_responses`` setting works).
        prefix: Prepended to every key.
        history_cap: Longest kept history per component/pair (the control topic keeps all).
    """

    def __init__(self, redis: Redis, *, prefix: str = "cronos:", history_cap: int = 10_000):
        if history_cap < 1:
            raise ValueError("history_cap must be positive")
        self._redis = redis
        self._prefix = prefix
        self._history_cap = history_cap
        self._cas = redis.register_script(_CAS_LUA)
        self._release = redis.register_script(_RELEASE_LUA)

    @classmethod
    def from_settings(cls, settings: RedisSettings) -> VersionStore:
        """Build a store with its own client from :class:`RedisSettings`."""
        client = Redis.from_url(settings.url.get_secret_value(), **settings.client_options())
        return cls(client, prefix=settings.key_prefix)

    async def aclose(self) -> None:
        """Close the underlying client's connections."""
        with _wrapped("close"):
            await self._redis.aclose()

    async def ping(self) -> None:
        """Check that Redis answers; raises :class:`StateError` if not."""
        with _wrapped("ping"):
            await self._redis.ping()

    def key(self, kind: str, component: str, pair: str | None = None) -> str:
        """Full key for ``kind`` (active, history, known_good) of a component and pair."""
        if component not in COMPONENTS:
            raise ValueError(f"unknown component {component!r}")
        if pair is None:
            return f"{self._prefix}{kind}:{component}"
        if not PAIR_RE.match(pair):
            raise ValueError(f"bad pair {pair!r}")
        return f"{self._prefix}{kind}:{component}:{pair}"

    async def get_active(self, component: str, pair: str | None = None) -> VersionPointer | None:
        """The active pointer, or ``None`` if none was ever set."""
        return await self._get_pointer(self.key("active", component, pair))

    async def compare_and_set_active(
        self,
        component: str,
        pair: str | None,
        expected_version: str | None,
        new_pointer: VersionPointer,
        *,
        history: HistoryEntry | None = None,
        applied_ttl_s: int = 0,
    ) -> bool:
        """Atomically replace the active pointer if it still holds ``expected_version``.

        Args:
            component: Component name.
            pair: Protocol pair for ``translation_rules``, else ``None``.
            expected_version: Version the caller saw; ``None`` means "no pointer yet".
            new_pointer: Pointer to store.
            history: Entry appended in the same step, only if the pointer changed — so one
                command leaves one "applied" entry however many workers apply it.
            applied_ttl_s: When > 0, also mark ``applied:{command_id}`` for this many seconds
                (the fleet-wide replay guard, see :meth:`was_applied`).

        Returns:
            ``True`` if this call changed the pointer; ``False`` if the pointer no longer holds
            ``expected_version``, already carries ``new_pointer.command_id``, or was set by a
            command whose order is not older than ``new_pointer.order``.
        """
        keys = [
            self.key("active", component, pair),
            self.key("history", component, pair),
            self.applied_key(new_pointer.command_id),
        ]
        args: list[str | bytes | int] = [
            "0" if expected_version is None else "1",
            expected_version or "",
            new_pointer.command_id,
            history.to_json() if history is not None else "",
            self._history_cap,
            new_pointer.order,
            max(0, int(applied_ttl_s)),
        ]
        for name, value in new_pointer.to_mapping().items():
            args += [name, value]
        with _wrapped("compare-and-set"):
            return int(await self._cas(keys=keys, args=args)) == 1

    def applied_key(self, command_id: str) -> str:
        """The fleet-wide marker of a command that moved a pointer."""
        return f"{self._prefix}applied:{command_id}"

    async def was_applied(self, command_id: str) -> bool:
        """True if ``command_id`` moved a pointer (on any replica) within the marker's TTL."""
        with _wrapped("read applied marker"):
            return bool(await self._redis.exists(self.applied_key(command_id)))

    async def append_history(self, component: str, pair: str | None, entry: HistoryEntry) -> None:
        """Push an entry on the history list (newest first) and trim it to the cap."""
        key = self.key("history", component, pair)
        with _wrapped("append history"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lpush(key, entry.to_json())
                pipe.ltrim(key, 0, self._history_cap - 1)
                await pipe.execute()

    async def get_history(
        self, component: str, pair: str | None = None, limit: int = 50
    ) -> list[HistoryEntry]:
        """Up to ``limit`` history entries, newest first."""
        if limit < 1:
            return []
        with _wrapped("read history"):
            raw = await self._redis.lrange(self.key("history", component, pair), 0, limit - 1)
        return [HistoryEntry.from_json(item) for item in raw]

    async def mark_known_good(self, component: str, pair: str | None, ptr: VersionPointer) -> None:
        """Record ``ptr`` as the last version that passed validation in production."""
        key = self.key("known_good", component, pair)
        with _wrapped("mark known good"):
            async with self._redis.pipeline(transaction=True) as pipe:
                # Replace, not merge: no field of an older pointer may survive.
                pipe.delete(key)
                fields: dict[Any, Any] = ptr.to_mapping()  # hset's key type is invariant
                pipe.hset(key, mapping=fields)
                await pipe.execute()

    async def get_known_good(
        self, component: str, pair: str | None = None
    ) -> VersionPointer | None:
        """The last known-good pointer, or ``None``."""
        return await self._get_pointer(self.key("known_good", component, pair))

    async def claim_command(self, command_id: str, ttl_s: int) -> bool:
        """Mark a command id as seen; ``False`` if it was seen before (a replay)."""
        if ttl_s < 1:
            raise ValueError("ttl_s must be at least one second")
        with _wrapped("claim command"):
            claimed = await self._redis.set(
                f"{self._prefix}seen:{command_id}", format_utc(datetime.now(UTC)), nx=True, ex=ttl_s
            )
        return bool(claimed)

    async def claim_or_reject(self, command_id: str, ttl_s: int) -> None:
        """Like :meth:`claim_command`, but raise on a replay or when Redis is down.

        Raises:
            CommandRejectedError: ``replayed``, or ``redis_unavailable`` (the StateError is
                its ``__cause__``) — refusing is safe: a worker reconciles to the pointer.
        """
        try:
            claimed = await self.claim_command(command_id, ttl_s)
        except StateError as exc:
            raise CommandRejectedError("redis_unavailable", str(exc)) from exc
        if not claimed:
            raise CommandRejectedError("replayed", f"command {command_id} was seen before")

    async def acquire_lock(self, name: str, ttl_s: float) -> str | None:
        """Take the lock ``name`` for ``ttl_s`` seconds; the token to release it, or ``None``."""
        token = secrets.token_hex(16)
        with _wrapped("acquire lock"):
            ok = await self._redis.set(
                f"{self._prefix}lock:{name}", token, nx=True, px=max(1, int(ttl_s * 1000))
            )
        return token if ok else None

    async def release_lock(self, name: str, token: str) -> bool:
        """Release the lock if ``token`` still holds it; ``False`` if it expired or moved."""
        with _wrapped("release lock"):
            return bool(await self._release(keys=[f"{self._prefix}lock:{name}"], args=[token]))

    async def _get_pointer(self, key: str) -> VersionPointer | None:
        with _wrapped("read pointer"):
            raw = await self._redis.hgetall(key)
        return VersionPointer.from_mapping(raw) if raw else None
