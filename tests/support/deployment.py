"""Worker processes of one test: started, killed, stopped, their logs read on failure."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

WORKER_CMD = "from workers.process import run_worker; run_worker(loglevel='info')"


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
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER_CMD], env=env, stdout=log, stderr=subprocess.STDOUT
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
