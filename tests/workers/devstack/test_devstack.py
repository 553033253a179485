"""The embedded dev stack: start, topics, Redis fallback, stop, and its refusals.

Each test runs its own stack on free loopback ports in a temporary state directory, so it neither
needs nor disturbs the session broker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from workers.devstack.probes import free_port, kafka_ready, redis_ping
from workers.devstack.stack import DEFAULT_TOPICS, DevStack, DevStackConfig, TopicSpec
from workers.errors import DevStackError, WorkersError

pytestmark = pytest.mark.integration

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # port 1: nothing listens, connection refused at once


def config(state_dir: Path, **overrides: object) -> DevStackConfig:
    defaults: dict[str, object] = {
        "kafka_port": 0,
        "redis_fallback_port": 0,
        "state_dir": state_dir,
        "start_timeout_s": 10.0,
    }
    return DevStackConfig(**{**defaults, **overrides})  # type: ignore[arg-type]


async def partition_counts(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described}


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_start_creates_default_topics_and_stop_cleans_up(tmp_path: Path) -> None:
    stack = DevStack(config(tmp_path, redis_url=UNREACHABLE_REDIS))
    endpoints = stack.start()
    try:
        assert kafka_ready(endpoints.kafka_bootstrap)
        counts = await partition_counts(endpoints.kafka_bootstrap)
        assert {t.name: t.partitions for t in DEFAULT_TOPICS}.items() <= counts.items()
        assert counts["cronos.frames.raw"] == 4 and counts["cronos.control"] == 1
        assert endpoints.redis_embedded and redis_ping(endpoints.redis_url)
        rows = {row.service: row for row in stack.status()}
        assert rows["kafka"].state == rows["redis"].state == "running"
        pids = [rows["kafka"].pid, rows["redis"].pid]
        assert all(pids) and (tmp_path / "kafka.pid").exists()
        assert (tmp_path / "kafka.log").exists()
    finally:
        assert stack.stop() == ["kafka", "redis"]
    assert not kafka_ready(endpoints.kafka_bootstrap)
    assert not redis_ping(endpoints.redis_url)
    assert not list(tmp_path.glob("*.pid")) and not (tmp_path / "stack.json").exists()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert {row.state for row in stack.status()} == {"stopped"}


async def test_topics_are_configurable(tmp_path: Path) -> None:
    topics = (TopicSpec("custom.a", 3), TopicSpec("custom.b"))
    with DevStack(config(tmp_path, topics=topics)) as endpoints:
        counts = await partition_counts(endpoints.kafka_bootstrap)
    assert counts == {"custom.a": 3, "custom.b": 1}


def test_embedded_redis_starts_even_when_one_answers(tmp_path: Path) -> None:
    stack = DevStack(config(tmp_path))
    url = stack.start_embedded_redis()
    try:
        client = redis.Redis.from_url(url)
        assert client.ping() and client.set("k", "v") and client.get("k") == b"v"
        assert client.config_get("save") == {"save": ""}  # memory only
        client.close()
    finally:
        assert stack.stop() == ["redis"]
    assert not redis_ping(url)


def test_a_redis_that_answers_is_used_and_never_stopped(tmp_path: Path, redis_url: str) -> None:
    # The session's Redis (the machine's, or an embedded one the session started) answers and
    # was not started by this stack: it must be used and left running.
    external = redis_url
    assert redis_ping(external)
    stack = DevStack(config(tmp_path, redis_url=external, topics=()))
    with stack as endpoints:
        assert endpoints.redis_url == external and not endpoints.redis_embedded
        assert not (tmp_path / "redis.pid").exists()
        assert {r.service: r.state for r in stack.status()}["redis"] == "external"
    assert redis_ping(external)


def test_taken_port_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack = DevStack(config(tmp_path, kafka_port=port))
        with pytest.raises(DevStackError, match=rf"port 127\.0\.0\.1:{port} is already in use"):
            stack.start()
    assert not list(tmp_path.glob("*.pid"))


def test_second_start_on_one_state_dir_is_refused(tmp_path: Path) -> None:
    first = DevStack(config(tmp_path, redis_url=UNREACHABLE_REDIS, topics=()))
    with first, pytest.raises(WorkersError, match="kafka is already running"):
        DevStack(config(tmp_path)).start()


@pytest.mark.parametrize("content", ["dead", "not-a-pid\n"])
def test_stale_pid_file_is_reported_then_cleared_by_stop(tmp_path: Path, content: str) -> None:
    pid_file = tmp_path / "kafka.pid"
    pid_file.write_text(f"{dead_pid()}\n" if content == "dead" else content)
    stack = DevStack(config(tmp_path, redis_url=UNREACHABLE_REDIS, topics=()))
    with pytest.raises(DevStackError, match=r"stale pid file .*kafka\.pid"):
        stack.start()
    assert pid_file.exists(), "start must not delete what it refused"
    assert {r.service: r.state for r in stack.status()}["kafka"] == "stale"
    assert stack.stop() == []
    assert not pid_file.exists()
    with stack:
        assert {r.service: r.state for r in stack.status()}["kafka"] == "running"


def _fake_tansu(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-tansu"
    script.write_text(f"#!{sys.executable}\n{body}\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("body", "why"),
    [("import time; time.sleep(60)", "did not answer"), ("print('boom')", "exited")],
)
def test_broker_that_does_not_come_up_is_reported_and_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, why: str
) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", str(_fake_tansu(tmp_path, body)))
    stack = DevStack(config(tmp_path, start_timeout_s=0.5, stop_timeout_s=2.0))
    with pytest.raises(DevStackError, match=f"kafka {why} on 127.0.0.1:"):
        stack.start()
    assert not list(tmp_path.glob("*.pid"))


def cronos_dev(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``cronos dev ARGS`` in a process of its own, as a user would."""
    code = "from workers.cli.dev import dev_app; dev_app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_cli_up_status_down_from_separate_processes(tmp_path: Path) -> None:
    state = ("--state-dir", str(tmp_path))
    port = str(free_port())
    up = cronos_dev(
        "up", "--kafka-port", port, "--redis-url", UNREACHABLE_REDIS, "--redis-port", "0", *state
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"KAFKA_BOOTSTRAP=127.0.0.1:{port}" in up.stdout
        assert kafka_ready(f"127.0.0.1:{port}"), "the broker must outlive `dev up`"
        status = cronos_dev("status", *state)
        assert status.returncode == 0 and status.stdout.count("running") == 2, status.stdout
        again = cronos_dev("up", "--kafka-port", "0", *state)
        assert again.returncode == 1 and "already running" in again.stdout
    finally:
        down = cronos_dev("down", *state)
    assert down.returncode == 0 and "stopped: kafka, redis" in down.stdout, down.stdout
    assert not kafka_ready(f"127.0.0.1:{port}")
    assert cronos_dev("status", *state).returncode == 1


async def test_redis_client_fixture_uses_the_test_database(
    redis_client: Redis, redis_prefix: str, redis_url: str
) -> None:
    assert redis_url.endswith("/13")
    assert redis_client.connection_pool.connection_kwargs["db"] == 13
    await redis_client.set(f"{redis_prefix}k", "v")
    assert await redis_client.get(f"{redis_prefix}k") == b"v"
