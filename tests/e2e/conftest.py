"""Fixtures of the end-to-end tests: worker processes on fresh topics, group and key prefix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.stream.support import HMAC_KEY, shared_artifacts

WORKER_CMD = "from workers.process import run_worker; run_worker(loglevel='info')"


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifact root with detectors 1.0.0 and 1.1.0 and a corrupt 9.9.9."""
    return shared_artifacts(tmp_path_factory.mktemp("artifacts"))


@dataclass
class Deployment:
    """One isolated deployment: its topics, group, Redis prefix and worker processes."""

    env: dict[str, str]
    topics: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, worker_id: str) -> subprocess.Popen[bytes]:
        env = self.env | {"CRONOS_WORKER_ID": worker_id}
        log = (self.log_dir / f"{worker_id}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-c", WORKER_CMD], env=env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
        self.procs[worker_id] = proc
        return proc

    def kill(self, worker_id: str) -> None:
        proc = self.procs.pop(worker_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()

    def check_alive(self) -> None:
        """Fail at once, with its log, if a worker process has exited."""
        for worker_id, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"worker {worker_id} exited:\n{self.log(worker_id)}")

    def log(self, worker_id: str) -> str:
        return (self.log_dir / f"{worker_id}.log").read_text(errors="replace")[-4000:]


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONOS_")} | {
        "CRONOS_KAFKA_BROKER": kafka_bootstrap,
        "CRONOS_KAFKA_GROUP_ID": f"cronos-e2e-{uuid.uuid4().hex[:8]}",
        "CRONOS_KAFKA_TOPIC_RAW": topics["raw"],
        "CRONOS_KAFKA_TOPIC_RESULTS": topics["results"],
        "CRONOS_KAFKA_TOPIC_DLQ": topics["dlq"],
        "CRONOS_KAFKA_TOPIC_CONTROL": topics["control"],
        "CRONOS_KAFKA_TOPIC_CONTROL_EVENTS": topics["events"],
        "CRONOS_KAFKA_SESSION_TIMEOUT_S": "2",
        "CRONOS_KAFKA_HEARTBEAT_INTERVAL_S": "0.3",
        "CRONOS_KAFKA_REBALANCE_TIMEOUT_S": "2",
        "CRONOS_KAFKA_COMMIT_INTERVAL_S": "0.2",
        "CRONOS_REDIS_URL": redis_url,
        "CRONOS_REDIS_KEY_PREFIX": redis_prefix,
        "CRONOS_CONTROL_HMAC_KEY": HMAC_KEY.decode(),
        "CRONOS_ARTIFACT_ROOT": str(artifact_root),
        "CRONOS_INITIAL_DETECTOR_VERSION": "1.0.0",
        "CRONOS_DATA_DIR": str(tmp_path / "data"),
        "CRONOS_BATCH_SIZE": "16",
        "CRONOS_BATCH_WINDOW_S": "0.1",
        "CRONOS_MAX_FRAME_BYTES": "512",
        "CRONOS_DETECTOR_THREADS": "1",
    }
    dep = Deployment(env, topics, tmp_path)
    try:
        yield dep
    finally:
        dep.stop_all()
