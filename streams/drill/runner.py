"""The rollback drill: swap a running deployment to the previous version and back, under probe load.

Steps (:func:`run_drill`): read the active pointer and the history from Redis; start probe load
(:mod:`streams.drill.probe`) and wait until probe results flow and a quarter of the probe budget is
sent; send a signed ``swap`` to the previous version and collect every worker's event; wait for
a probe result stamped with that version; send a signed ``swap`` back to the original version
and collect the events again; keep the load going until the budget is sent, and at least a
quarter of it after the swap back; stop it and wait until every probe has an outcome. The swap
back is sent whenever the first one was, so a failing drill does not leave the deployment on the
previous version.

Workers expected: ``workers`` if given, else whoever answers the first swap (the first event plus
``answer_window_s`` of quiet); the swap back must be answered by the same workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.control.command import new_command
from streams.control.events import ControlEvent
from streams.control.state import VersionStore
from streams.drill.probe import OutcomeCounter, ProbeFrames, ProbeLoad
from streams.drill.report import (
    BACK,
    TO_PREVIOUS,
    Applied,
    DrillReport,
    partition_sequences,
    previous_version,
)
from streams.errors import StreamsError
from streams.kafka import assign_all
from streams.worker.settings import KafkaSettings


class DrillError(StreamsError, RuntimeError):
    """The drill cannot start (no pointer, no previous version)."""


@dataclass(frozen=True)
class DrillConfig:
    """What the drill does; see ``cronos control drill --help``."""

    component: str = "field_detector"
    to_version: str | None = None
    probe_frames: int = 200
    rate: float = 50.0
    timeout_s: float = 120.0
    workers: int | None = None
    answer_window_s: float = 3.0
    protocol: str = "modbus"


async def _until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


class _Channel:
    """Sends signed commands and reads the events topic from before each send."""

    def __init__(self, kafka: KafkaSettings, key: bytes, issuer: str) -> None:
        self.kafka, self.key, self.issuer = kafka, key, issuer
        self.sent: list[str] = []  # versions of the commands sent, in order
        #: Version → the artifact sha256 its swap is bound to (from the pointer and history).
        self.sha256: dict[str, str] = {}
        auth = kafka.client_auth()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers, acks="all", **auth
        )
        # A short fetch wait: the wall time of an answer is measured when its event is read.
        self._events = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers, group_id=None, fetch_max_wait_ms=20, **auth
        )

    async def start(self) -> None:
        await self._producer.start()
        await self._events.start()
        # Pinned once, before the first command: no event of ours can slip past.
        await assign_all(self._events, self.kafka.topic_control_events)

    async def stop(self) -> None:
        await self._events.stop()
        await self._producer.stop()

    async def send(
        self, action: str, component: str, version: str, reason: str, sha256: str
    ) -> str:
        """Sign and publish one command bound to the artifact ``sha256``; returns its id."""
        target = {"version": version, "reason": reason, "sha256": sha256}
        cmd, raw = new_command(action, component, target, self.issuer, self.key)
        self.sent.append(version)
        await self._producer.send_and_wait(self.kafka.topic_control, raw)
        return str(cmd.id)

    async def swap(
        self,
        component: str,
        version: str,
        reason: str,
        expect: int | frozenset[str] | None,
        timeout_s: float,
        quiet_s: float,
    ) -> list[tuple[ControlEvent, float]]:
        """Send a signed swap and collect ``(event, wall ms)`` per answering worker."""
        sent = time.monotonic()
        cmd_id = await self.send("swap", component, version, reason, self.sha256[version])
        got: dict[str, tuple[ControlEvent, float]] = {}
        deadline, last = sent + timeout_s, sent
        while time.monotonic() < deadline and not _enough(got, expect, last, quiet_s):
            for recs in (await self._events.getmany(timeout_ms=20)).values():
                for r in recs:
                    event = ControlEvent.from_json(r.value or b"{}")
                    if event.command_id == cmd_id and event.worker_id not in got:
                        last = time.monotonic()
                        got[event.worker_id] = (event, (last - sent) * 1000.0)
        return list(got.values())


def _enough(
    got: Mapping[str, object], expect: int | frozenset[str] | None, last: float, quiet_s: float
) -> bool:
    if isinstance(expect, int):
        return len(got) >= expect
    if isinstance(expect, frozenset):
        return expect <= got.keys()
    # Whoever answers: the first answer, then a quiet spell with no new worker.
    return bool(got) and time.monotonic() - last >= quiet_s


async def run_drill(
    kafka: KafkaSettings,
    store: VersionStore,
    key: bytes,
    cfg: DrillConfig,
    issuer: str,
    say: Callable[[str], None] = lambda _: None,
) -> DrillReport:
    """Run the drill on the deployment behind ``kafka`` and ``store``; see the module docstring.

    Raises:
        DrillError: No active pointer, or no version to go back to.
    """
    start = time.monotonic()
    active = await store.get_active(cfg.component)
    if active is None:
        raise DrillError(f"no active {cfg.component} version in Redis")
    history = await store.get_history(cfg.component, limit=200)
    previous = cfg.to_version or previous_version(history, active.version)
    if previous is None or previous == active.version:
        raise DrillError(f"no version other than {active.version} to drill against")
    recorded = [
        e.sha256
        for e in history
        if e.outcome == "applied" and e.to_version == previous and e.sha256
    ]
    if not recorded:
        raise DrillError(
            f"no sha256 recorded for {previous}: swap to it once with `cronos control swap`"
        )
    run_id = uuid.uuid4().hex[:8]
    report = DrillReport(cfg.component, active.version, previous, run_id)
    prefix = f"drill-{run_id}-"
    channel = _Channel(kafka, key, issuer)
    channel.sha256 = {active.version: active.sha256, previous: recorded[0]}
    counter = OutcomeCounter(
        kafka.bootstrap_servers, kafka.topic_results, kafka.topic_dlq, prefix, kafka.client_auth()
    )
    load = ProbeLoad(
        kafka.bootstrap_servers,
        kafka.topic_raw,
        ProbeFrames(prefix, cfg.protocol),
        cfg.rate,
        kafka.client_auth(),
    )
    async with contextlib.AsyncExitStack() as stack:
        await channel.start()
        stack.push_async_callback(channel.stop)
        await counter.start()
        stack.push_async_callback(counter.stop)
        pump = asyncio.create_task(_pump(counter))
        stack.push_async_callback(_cancel, pump)
        await load.start()
        stack.push_async_callback(load.stop)
        try:
            await _phases(report, cfg, channel, counter, load, say)
        except BaseException:
            # Interrupted between the swaps (Ctrl-C, broker error): still send the way back.
            if channel.sent == [report.previous]:
                with contextlib.suppress(Exception):
                    sha = channel.sha256[report.original]
                    await channel.send("swap", cfg.component, report.original, "drill abort", sha)
            raise
        await load.stop()
        say(f"waiting for the outcome of {len(load.published)} probe frames")
        await _until(lambda: not counter.missing(load.published), cfg.timeout_s)
        final = await store.get_active(cfg.component)
        report.final_version = final.version if final else None
    report.sent = len(set(load.published))
    report.results = sum(1 for fid in set(load.published) if counter.results[fid])
    report.dead_letters = sum(1 for fid in set(load.published) if counter.dead[fid])
    report.duplicates = counter.duplicates(load.published)
    report.lost = len(counter.missing(load.published))
    report.sequences = partition_sequences(counter.stamps)
    report.duration_s = time.monotonic() - start
    return report


async def _pump(counter: OutcomeCounter) -> None:
    while True:
        await counter.poll(0.2)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _phases(
    report: DrillReport,
    cfg: DrillConfig,
    channel: _Channel,
    counter: OutcomeCounter,
    load: ProbeLoad,
    say: Callable[[str], None],
) -> None:
    say(f"probe load at {cfg.rate:g}/s; waiting for probe results on {report.original}")
    # A quarter of the budget before the first swap shows the original version at work.
    before = max(1, cfg.probe_frames // 4)
    flowing = await _until(
        lambda: bool(counter.stamps or counter.dead) and len(load.published) >= before,
        cfg.timeout_s,
    )
    if not flowing:
        # A deployment that processes nothing is not swapped: the drill would prove nothing.
        report.errors.append(f"no probe outcome within {cfg.timeout_s:g} s; nothing swapped")
        return
    expect: int | frozenset[str] | None = cfg.workers
    for phase, version in ((TO_PREVIOUS, report.previous), (BACK, report.original)):
        say(f"{phase}: swap to {version}")
        if phase == TO_PREVIOUS:
            load.check()  # a broken load is found before the swap, never between the two
        answers = await channel.swap(
            cfg.component,
            version,
            f"rollback drill {report.run_id}: {phase}",
            expect,
            cfg.timeout_s,
            cfg.answer_window_s,
        )
        for event, wall_ms in answers:
            report.applied.append(
                Applied(
                    phase,
                    event.worker_id,
                    event.outcome,
                    event.reason,
                    float(event.timings_ms.get("total", 0.0)),
                    wall_ms,
                )
            )
        answered = frozenset(e.worker_id for e, _ in answers)
        if isinstance(expect, frozenset):
            report.missing_workers[phase] = sorted(expect - answered)
        elif isinstance(expect, int) and len(answered) < expect:
            report.missing_workers[phase] = [f"{expect - len(answered)} of {expect} workers"]
        expect = expect if expect is not None else (answered or None)
        if phase == TO_PREVIOUS and any(e.outcome == "applied" for e, _ in answers):
            stamped = await _until(
                lambda: any(s.version == report.previous for s in counter.stamps), cfg.timeout_s
            )
            if not stamped:
                report.errors.append(f"no probe result was stamped {report.previous}")
    # The rest of the budget, and at least a quarter of it, runs on the original version again.
    mark = len(load.published)
    goal = max(cfg.probe_frames, mark + max(1, cfg.probe_frames // 4))
    say(f"back on {report.original}; probing until {goal} frames are sent")
    await _until(lambda: len(load.published) >= goal, cfg.timeout_s)
