"""VersionStore against a real Redis: the session's (``redis_url`` fixture in tests/conftest.py,
with the embedded redis-server as fallback when none answers).

Every test uses its own key prefix and deletes its keys afterwards, so it can share a Redis with
other tests and runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from streams.control.settings import RedisSettings
from streams.control.state import HistoryEntry, VersionPointer, VersionStore
from streams.errors import CommandRejectedError, StateError

pytestmark = pytest.mark.integration

StoreFactory = Callable[..., Awaitable[VersionStore]]


@pytest.fixture
async def make_store(redis_url: str) -> AsyncIterator[StoreFactory]:
    """Factory of stores sharing one fresh key prefix; each store has its own connection."""
    prefix = f"test:{uuid4().hex}:"
    clients: list[Redis] = []

    async def make(**kwargs: object) -> VersionStore:
        client = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        clients.append(client)
        return VersionStore(client, prefix=prefix, **kwargs)  # type: ignore[arg-type]

    await (await make()).ping()
    yield make
    keys = [key async for key in clients[0].scan_iter(match=f"{prefix}*")]
    if keys:
        await clients[0].delete(*keys)
    for client in clients:
        await client.aclose()


@pytest.fixture
async def store(make_store: StoreFactory) -> VersionStore:
    return await make_store()


def _pointer(version: str, command_id: str | None = None) -> VersionPointer:
    return VersionPointer(
        version=version,
        path=f"/artifacts/field_detector/field_detector_v{version}_latest.pt",
        sha256="ab" * 32,
        command_id=command_id or str(uuid4()),
        activated_at=datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=UTC),
    )


def _entry(to_version: str, from_version: str | None = None, **kw: str) -> HistoryEntry:
    return HistoryEntry(
        action=kw.get("action", "swap"),
        from_version=from_version,
        to_version=to_version,
        command_id=kw.get("command_id", str(uuid4())),
        issuer="ops@host",
        outcome=kw.get("outcome", "applied"),
        reason=kw.get("reason"),
    )


async def test_pointer_round_trip_and_cas(store: VersionStore) -> None:
    assert await store.get_active("field_detector") is None
    first = _pointer("1.0.0")
    assert await store.compare_and_set_active("field_detector", None, None, first)
    assert await store.get_active("field_detector") == first
    # Expecting "no pointer" fails once one exists; a stale expectation fails too.
    assert not await store.compare_and_set_active("field_detector", None, None, _pointer("9.0.0"))
    assert not await store.compare_and_set_active(
        "field_detector", None, "0.9.0", _pointer("9.0.0")
    )
    second = _pointer("1.1.0")
    assert await store.compare_and_set_active("field_detector", None, "1.0.0", second)
    assert await store.get_active("field_detector") == second


async def test_cas_refuses_a_command_not_newer_than_the_pointer(store: VersionStore) -> None:
    newer = dataclasses.replace(_pointer("1.2.0"), order=2_000)
    assert await store.compare_and_set_active("field_detector", None, None, newer)
    # An older command (a replayed capture) and one of the same instant are both refused.
    for order in (1_000, 2_000):
        older = dataclasses.replace(_pointer("1.1.0"), order=order)
        assert not await store.compare_and_set_active("field_detector", None, "1.2.0", older)
    assert (await store.get_active("field_detector")) == newer
    later = dataclasses.replace(_pointer("1.3.0"), order=2_001)
    assert await store.compare_and_set_active(
        "field_detector", None, "1.2.0", later, applied_ttl_s=60
    )
    assert await store.was_applied(later.command_id)
    assert not await store.was_applied(newer.command_id)  # no TTL given: no marker


async def test_keys_follow_layout(store: VersionStore) -> None:
    pair = "modbus->mqtt"
    await store.compare_and_set_active("translation_rules", pair, None, _pointer("1.0.0"))
    redis = store._redis  # white-box: the key layout is a contract other tools read
    key = store.key("active", "translation_rules", pair)
    assert key.endswith(":active:translation_rules:modbus->mqtt")
    fields = await redis.hgetall(key)
    assert {k.decode() if isinstance(k, bytes) else k for k in fields} == {
        "version",
        "path",
        "sha256",
        "activated_at",
        "command_id",
        "order",
        "signature",
    }
    assert fields[b"activated_at"] == b"2026-11-27T10:00:00.123000Z"
    assert await store.get_active("translation_rules", "modbus->opcua") is None
    with pytest.raises(ValueError):
        store.key("active", "translation_rules", "../x")


async def test_ten_concurrent_setters_change_pointer_once(make_store: StoreFactory) -> None:
    stores = [await make_store() for _ in range(10)]
    await stores[0].compare_and_set_active("field_detector", None, None, _pointer("1.0.0"))
    command_id = str(uuid4())
    all_read = asyncio.Barrier(len(stores))

    async def apply(worker: VersionStore) -> bool:
        seen = await worker.get_active("field_detector")
        assert seen is not None
        await all_read.wait()  # every worker saw 1.0.0 before any of them writes
        return await worker.compare_and_set_active(
            "field_detector",
            None,
            seen.version,
            _pointer("2.0.0", command_id),
            history=_entry("2.0.0", seen.version, command_id=command_id),
        )

    results = await asyncio.gather(*(apply(worker) for worker in stores))
    assert results.count(True) == 1
    active = await stores[0].get_active("field_detector")
    assert active is not None and (active.version, active.command_id) == ("2.0.0", command_id)
    history = await stores[0].get_history("field_detector")
    assert [entry.command_id for entry in history] == [command_id]


async def test_late_worker_does_not_reapply_command(store: VersionStore) -> None:
    await store.compare_and_set_active("field_detector", None, None, _pointer("1.0.0"))
    command_id = str(uuid4())
    new = _pointer("2.0.0", command_id)
    assert await store.compare_and_set_active("field_detector", None, "1.0.0", new)
    # A worker that reads the pointer only now sees 2.0.0 and must not apply it again.
    again = _pointer("2.0.0", command_id)
    entry = _entry("2.0.0", "2.0.0", command_id=command_id)
    assert not await store.compare_and_set_active(
        "field_detector", None, "2.0.0", again, history=entry
    )
    assert await store.get_history("field_detector") == []
    # The same version under a new command (a re-swap) is a real change.
    assert await store.compare_and_set_active("field_detector", None, "2.0.0", _pointer("2.0.0"))


async def test_history_newest_first_and_capped(make_store: StoreFactory) -> None:
    store = await make_store(history_cap=5)
    versions = [f"1.0.{i}" for i in range(8)]
    for previous, version in zip([None, *versions], versions, strict=False):
        await store.append_history("field_detector", None, _entry(version, previous))
    history = await store.get_history("field_detector", limit=100)
    assert [e.to_version for e in history] == ["1.0.7", "1.0.6", "1.0.5", "1.0.4", "1.0.3"]
    assert [e.to_version for e in await store.get_history("field_detector", limit=2)] == [
        "1.0.7",
        "1.0.6",
    ]
    assert await store.get_history("field_detector", limit=0) == []
    rollback = _entry("1.0.6", "1.0.7", action="rollback", reason="f1 dropped")
    await store.append_history("field_detector", None, rollback)
    newest = (await store.get_history("field_detector", limit=1))[0]
    assert newest == rollback
    assert newest.at.tzinfo is not None


async def test_known_good_replaces_whole_pointer(store: VersionStore) -> None:
    assert await store.get_known_good("field_detector") is None
    await store.mark_known_good("field_detector", None, _pointer("1.0.0"))
    later = _pointer("1.1.0")
    await store.mark_known_good("field_detector", None, later)
    assert await store.get_known_good("field_detector") == later
    assert await store.get_active("field_detector") is None  # separate from the pointer


async def test_replay_guard(store: VersionStore) -> None:
    command_id = str(uuid4())
    assert await store.claim_command(command_id, ttl_s=60)
    assert not await store.claim_command(command_id, ttl_s=60)
    with pytest.raises(CommandRejectedError) as info:
        await store.claim_or_reject(command_id, ttl_s=60)
    assert info.value.reason == "replayed"
    ttl = await store._redis.ttl(f"{store._prefix}seen:{command_id}")
    assert 0 < ttl <= 60
    await store.claim_or_reject(str(uuid4()), ttl_s=60)  # a new id passes


async def test_replay_guard_concurrent_claims(make_store: StoreFactory) -> None:
    stores = [await make_store() for _ in range(10)]
    command_id = str(uuid4())
    claims = await asyncio.gather(*(s.claim_command(command_id, 60) for s in stores))
    assert claims.count(True) == 1


async def test_lock_exclusive_and_token_checked(make_store: StoreFactory) -> None:
    a, b = await make_store(), await make_store()
    token = await a.acquire_lock("rollback:field_detector", ttl_s=10)
    assert token is not None
    assert await b.acquire_lock("rollback:field_detector", ttl_s=10) is None
    assert not await b.release_lock("rollback:field_detector", "not-the-token")
    assert await b.acquire_lock("rollback:field_detector", ttl_s=10) is None  # still held
    assert await a.release_lock("rollback:field_detector", token)
    assert not await a.release_lock("rollback:field_detector", token)  # already released
    assert await b.acquire_lock("rollback:field_detector", ttl_s=10) is not None


async def test_expired_lock_is_not_released_by_old_holder(make_store: StoreFactory) -> None:
    a, b = await make_store(), await make_store()
    old = await a.acquire_lock("auto-rollback", ttl_s=0.05)
    assert old is not None
    await asyncio.sleep(0.15)
    new = await b.acquire_lock("auto-rollback", ttl_s=10)
    assert new is not None
    assert not await a.release_lock("auto-rollback", old)
    assert await a.acquire_lock("auto-rollback", ttl_s=10) is None  # b still holds it


async def test_lock_contenders_one_winner(make_store: StoreFactory) -> None:
    stores = [await make_store() for _ in range(10)]
    tokens = await asyncio.gather(*(s.acquire_lock("once", 10) for s in stores))
    assert sum(token is not None for token in tokens) == 1


async def test_decoded_responses_client(make_store: StoreFactory, redis_url: str) -> None:
    store = await make_store()
    text_store = VersionStore(
        Redis.from_url(redis_url, decode_responses=True), prefix=store._prefix
    )
    try:
        await store.compare_and_set_active("field_detector", None, None, _pointer("1.0.0"))
        await store.append_history("field_detector", None, _entry("1.0.0"))
        assert await text_store.get_active("field_detector") == await store.get_active(
            "field_detector"
        )
        assert len(await text_store.get_history("field_detector")) == 1
    finally:
        await text_store.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_redis_down_raises_state_error() -> None:
    url = f"redis://:pw-not-for-logs@127.0.0.1:{_closed_port()}/0"
    settings = RedisSettings(url=SecretStr(url), connect_timeout_s=1, socket_timeout_s=1)
    store = VersionStore.from_settings(settings)
    calls = [
        store.ping(),
        store.get_active("field_detector"),
        store.compare_and_set_active("field_detector", None, None, _pointer("1.0.0")),
        store.append_history("field_detector", None, _entry("1.0.0")),
        store.get_history("field_detector"),
        store.mark_known_good("field_detector", None, _pointer("1.0.0")),
        store.claim_command(str(uuid4()), 60),
        store.acquire_lock("x", 1),
        store.release_lock("x", "token"),
    ]
    try:
        for call in calls:
            with pytest.raises(StateError) as info:
                await call
            assert info.value.__cause__ is not None
            assert "pw-not-for-logs" not in str(info.value)
        with pytest.raises(CommandRejectedError) as rejected:
            await store.claim_or_reject(str(uuid4()), 60)
        assert rejected.value.reason == "redis_unavailable"
        assert isinstance(rejected.value.__cause__, StateError)
    finally:
        await store.aclose()
