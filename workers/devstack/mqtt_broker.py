"""An embedded MQTT broker on loopback for the dev stack and tests: mosquitto, else amqtt.

Debian's ``mosquitto`` package is used when its binary is found (``$PATH``, ``/usr/sbin``);
otherwise amqtt's broker (``pip install amqtt``) runs in a Python child process. Either way the
process runs in a session of its own, with ``mqtt.pid``, ``mqtt.log`` and its configuration in
the state directory, like :mod:`workers.devstack.stack` does for Kafka and Redis. Persistence is on
(in the state directory), so a restarted broker keeps persistent sessions and their queued QoS 1
messages; that is what lets a subscriber lose nothing across a broker restart.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from workers.devstack.probes import child_env, free_port, log_tail, port_in_use, process_runs
from workers.errors import WorkersError

_CONNECT = bytes.fromhex("101000044d5154540402000a0004") + b"ping"  # MQTT 3.1.1 CONNECT "ping"
_AMQTT_MAIN = """
import asyncio, sys
from amqtt.broker import Broker
async def main():
    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": sys.argv[1]}},
                     "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                                 {"allow_anonymous": True}}})
    await broker.start()
    await asyncio.Event().wait()
asyncio.run(main())
"""


class MqttBrokerError(WorkersError):
    """The embedded MQTT broker could not be started or stopped."""


def mqtt_ready(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """True if ``host:port`` answers an MQTT CONNECT with a successful CONNACK."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(_CONNECT)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")  # DISCONNECT, so the broker logs no error
    except OSError:
        return False
    return reply == b"\x20\x02\x00\x00"


def mosquitto_bin() -> str | None:
    """Path of the mosquitto binary, if installed (Debian puts it in /usr/sbin)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@dataclass(frozen=True)
class MqttBrokerConfig:
    """Where and how the broker runs.

    Attributes:
        host: Loopback address to bind.
        port: Port; 0 picks a free one.
        state_dir: Directory for the pid file, log, configuration and persistence.
        engine: ``auto`` (mosquitto if installed, else amqtt), ``mosquitto`` or ``amqtt``.
        start_timeout_s: How long the broker may take to answer a CONNECT.
        stop_timeout_s: How long SIGTERM may take before SIGKILL.
    """

    host: str = "127.0.0.1"
    port: int = 11883
    state_dir: Path = Path(".cronos/dev")
    engine: Literal["auto", "mosquitto", "amqtt"] = "auto"
    start_timeout_s: float = 10.0
    stop_timeout_s: float = 5.0


class MqttBroker:
    """Starts and stops one embedded broker; ``address`` is ``host:port`` once started."""

    def __init__(self, config: MqttBrokerConfig | None = None) -> None:
        self.config = config or MqttBrokerConfig()
        self.port = self.config.port
        self.engine: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        """Pid file of the running broker."""
        return self.config.state_dir / "mqtt.pid"

    @property
    def log_file(self) -> Path:
        """Log of the broker (stdout and stderr)."""
        return self.config.state_dir / "mqtt.log"

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"{self.config.host}:{self.port}"

    def start(self) -> str:
        """Start the broker and wait until it accepts a connection; return ``host:port``.

        Raises:
            MqttBrokerError: Already running, port taken, no broker available, or no answer
                within ``start_timeout_s`` (the message ends with the log's tail).
        """
        self._refuse_running()
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.config.host)
        elif port_in_use(self.config.host, self.port):
            raise MqttBrokerError(f"mqtt: port {self.address} is already in use")
        argv = self._argv()
        self._log = self.log_file.open("ab")
        # A session of its own: Ctrl-C in the shell that started the stack must not stop it.
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            start_new_session=True,
        )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = time.monotonic() + self.config.start_timeout_s
        while not mqtt_ready(self.config.host, self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise MqttBrokerError(
                    f"mqtt ({self.engine}) did not answer on {self.address}; log "
                    f"{self.log_file}:\n{log_tail(self.log_file)}"
                )
            time.sleep(0.05)
        return self.address

    def stop(self) -> bool:
        """Stop the broker this object or an earlier ``start`` (pid file) started.

        Returns:
            True if a broker process was stopped.
        """
        proc, self._proc = self._proc, None
        pid = proc.pid if proc else self._read_pid()
        stopped = False
        running = proc.poll() is None if proc else pid is not None and self._ours(pid)
        if running and pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.config.stop_timeout_s
            while (proc.poll() is None) if proc else self._ours(pid):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    if proc:
                        proc.wait(timeout=self.config.stop_timeout_s)
                    break
                time.sleep(0.05)
            stopped = True
        self.pid_file.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None
        return stopped

    def restart(self) -> str:
        """Stop and start again on the same port (persistent sessions survive)."""
        self.stop()
        return self.start()

    def running(self) -> bool:
        """True if the recorded broker process is alive and answers."""
        pid = self._read_pid()
        alive = pid is not None and self._ours(pid)
        return alive and mqtt_ready(self.config.host, self.port)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _argv(self) -> list[str]:
        mosquitto = mosquitto_bin() if self.config.engine in ("auto", "mosquitto") else None
        if mosquitto:
            self.engine = "mosquitto"
            state = self.config.state_dir.resolve()
            conf = state / "mosquitto.conf"
            conf.write_text(
                # `user`: as root, mosquitto would switch to user "mosquitto", which cannot
                # write the persistence file in our state directory.
                f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                f"listener {self.port} {self.config.host}\nallow_anonymous true\n"
                f"persistence true\npersistence_location {state}/\n"
                f"persistence_file mqtt-{self.port}.db\nautosave_interval 1\n"
                "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
            )
            return [mosquitto, "-c", str(conf)]
        if self.config.engine == "mosquitto":
            raise MqttBrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        try:
            import amqtt  # noqa: F401
        except ImportError as exc:
            raise MqttBrokerError(
                "no MQTT broker: install Debian's mosquitto package or `pip install amqtt`"
            ) from exc
        self.engine = "amqtt"
        return [sys.executable, "-c", _AMQTT_MAIN, self.address]

    def _ours(self, pid: int) -> bool:
        return process_runs(pid, "mosquitto") or process_runs(pid, "amqtt")

    def _refuse_running(self) -> None:
        pid = self._read_pid()
        if pid is not None and self._ours(pid):
            raise MqttBrokerError(f"mqtt broker already running (pid {pid}); stop it first")
        self.pid_file.unlink(missing_ok=True)  # stale: the process is gone

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


def start_mqtt_broker(state_dir: Path, port: int = 11883) -> MqttBroker:
    """Start the embedded broker (for ``cronos dev up``); ``broker.address`` says where."""
    broker = MqttBroker(MqttBrokerConfig(port=port, state_dir=state_dir))
    broker.start()
    return broker


def stop_mqtt_broker(state_dir: Path) -> bool:
    """Stop the broker a ``start_mqtt_broker`` in any process started (for ``cronos dev down``)."""
    return MqttBroker(MqttBrokerConfig(state_dir=state_dir)).stop()
