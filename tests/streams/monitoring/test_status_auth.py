"""The status server's bind address and bearer token, against the real aiohttp server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr, ValidationError
from redis.asyncio import Redis

from streams.control.state import VersionStore
from streams.errors import SettingsError
from streams.monitoring.recorder import Recorder
from streams.monitoring.status_page import StatusSource, serve
from streams.monitoring.windows import MetricWindows
from streams.worker.registry import ModelRegistry
from streams.worker.settings import WorkerSettings

TOKEN = "status-token-0123456789abcdef"
PROTECTED = ["/metrics", "/status", "/status.json", "/"]
Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def server(redis_client: Redis, redis_prefix: str) -> AsyncIterator[Serve]:
    """Starts the real server on a free port; returns its base URL."""
    runners: list[web.AppRunner] = []
    source = StatusSource(
        "w-test",
        ModelRegistry(),
        VersionStore(redis_client, prefix=redis_prefix),
        MetricWindows(redis_client, redis_prefix),
        Recorder(MetricWindows(redis_client, redis_prefix)),
    )

    async def start(**kwargs: object) -> str:
        runner = await serve(source, 0, **kwargs)  # type: ignore[arg-type]
        runners.append(runner)
        ((host, port, *_),) = runner.addresses
        return f"http://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_default_bind_is_loopback(server: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRONOS_METRICS_HOST", raising=False)
    assert WorkerSettings().metrics_host == "127.0.0.1"
    base = await server()
    assert base.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/metrics")).status_code == 200  # no token set: open
        assert (await client.get("/status.json")).json()["worker_id"] == "w-test"


async def test_bind_address_is_configurable(server: Serve) -> None:
    base = await server(host="0.0.0.0")
    assert base.startswith("http://0.0.0.0:")
    port = base.rsplit(":", 1)[1]
    async with httpx.AsyncClient() as client:  # every interface: loopback answers too
        assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


async def test_token_guards_everything_but_the_probes(server: Serve) -> None:
    base = await server(token=TOKEN)
    good = {"Authorization": f"Bearer {TOKEN}"}
    wrong = [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
    ]
    async with httpx.AsyncClient(base_url=base) as client:
        for path in [*PROTECTED, "/no-such-page"]:
            for headers in wrong:
                resp = await client.get(path, headers=headers)
                assert resp.status_code == 401, (path, headers)
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
                assert "cronos_" not in resp.text and "w-test" not in resp.text
        for path in PROTECTED:
            assert (await client.get(path, headers=good)).status_code == 200, path
        assert (await client.get("/status.json", headers=good)).json()["worker_id"] == "w-test"
        assert (await client.get("/no-such-page", headers=good)).status_code == 404
        # kubelet probes send no credentials: open, and they say nothing but ok / ready.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503  # no detector loaded here
        assert (await client.get("/readyz")).text.startswith("no detector")


def test_token_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRONOS_STATUS_TOKEN", "CRONOS_STATUS_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert WorkerSettings().status_bearer_token() is None
    secret = tmp_path / "token"
    secret.write_text(f"{TOKEN}\n")
    monkeypatch.setenv("CRONOS_STATUS_TOKEN_FILE", str(secret))
    from_file = WorkerSettings()
    assert from_file.status_bearer_token() == TOKEN
    assert TOKEN not in repr(from_file)
    monkeypatch.setenv("CRONOS_STATUS_TOKEN", TOKEN)
    with pytest.raises(ValidationError, match="not both") as info:
        WorkerSettings()
    assert TOKEN not in str(info.value)  # hide_input_in_errors
    monkeypatch.delenv("CRONOS_STATUS_TOKEN_FILE")
    assert WorkerSettings().status_bearer_token() == TOKEN
    assert TOKEN not in repr(WorkerSettings())
    with pytest.raises(SettingsError, match="shorter than 16"):
        WorkerSettings(status_token=SecretStr("short")).status_bearer_token()
    missing = WorkerSettings(status_token=None, status_token_file=tmp_path / "absent")
    with pytest.raises(SettingsError, match="absent"):
        missing.status_bearer_token()
