"""Worker processes of one test: started, killed, stopped, their logs read on failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

WORKER_CMD = "from workers.process import run_worker; run_worker(loglevel='info')"


def worker_env(
    *,
    bootstrap: str,
    group: str,
    topics: dict[str, str],
    redis_url: str,
    redis_prefix: str,
    hmac_key: bytes,
    artifact_root: Path,
    data_dir: Path,
    **extra: str,
) -> dict[str, str]:
    """Environment of a worker process: ours without CRONOS_*, then one deployment's settings.

    ``topics`` names ``raw``, ``results``, ``dlq``, ``control`` and ``events``; group timings
    are short so that a rebalance after a kill takes seconds. ``extra`` adds or overrides.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONOS_")}
    return (
        env
        | {
            "CRONOS_KAFKA_BROKER": bootstrap,
            "CRONOS_KAFKA_GROUP_ID": group,
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
            "CRONOS_CONTROL_HMAC_KEY": hmac_key.decode(),
            "CRONOS_ARTIFACT_ROOT": str(artifact_root),
            "CRONOS_INITIAL_DETECTOR_VERSION": "1.0.0",
            "CRONOS_DATA_DIR": str(data_dir),
            "CRONOS_DETECTOR_THREADS": "1",
        }
        | extra
    )


@dataclass
class Deployment:
    """One isolated deployment: its topics, group, Redis prefix and worker processes."""

    env: dict[str, str]
    topics: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Working directory of the processes (relative defaults such as ``checkpoints`` land here).
    cwd: Path | None = None

    def start(self, worker_id: str) -> subprocess.Popen[bytes]:
        env = self.env | {"CRONOS_WORKER_ID": worker_id}
        log = (self.log_dir / f"{worker_id}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_CMD],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.cwd,
        )
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
