"""Rollback drill end to end: two worker processes, 1.1.0 active after a swap from 1.0.0.

The drill (called in-process) must swap both workers to 1.0.0 and back, lose no probe frame,
see 1.0.0 stamp probe results, and leave the pointer on 1.1.0.
"""

from __future__ import annotations

import io

import orjson
import pytest
from pydantic import SecretStr
from rich.console import Console

from streams.control.events import ControlEvent
from streams.control.settings import RedisSettings
from streams.control.state import VersionStore
from streams.drill.report import BACK, TO_PREVIOUS
from streams.drill.runner import DrillConfig, run_drill
from streams.worker.settings import KafkaSettings
from tests.support.deployment import Deployment
from tests.support.stream import HMAC_KEY, TopicReader, command, produce
from workers.cli.drill import render

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(180)]


def _events(records: list) -> list[ControlEvent]:
    return [ControlEvent.from_json(r.value) for r in records]


async def test_drill_swaps_to_previous_and_back_without_losing_frames(
    deployment: Deployment,
) -> None:
    dep, t = deployment, deployment.topics
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    dep.start("w1")
    dep.start("w2")
    async with TopicReader(broker, t["events"]) as events:
        # Each worker reports its start-up reconcile once its control consumer is pinned.
        for _ in range(900):
            dep.check_alive()
            await events.poll(0.2)
            if {e.worker_id for e in _events(events.records)} >= {"w1", "w2"}:
                break
        else:
            raise AssertionError(dep.log("w1") + dep.log("w2"))
        swap = command("swap", {"version": "1.1.0"})
        swap_id = orjson.loads(swap)["id"]
        await produce(broker, t["control"], [(None, swap, [])])
        await events.until(
            lambda rs: len([e for e in _events(rs) if e.command_id == swap_id]) >= 2, 60
        )

    kafka = KafkaSettings(
        broker=broker,
        topic_raw=t["raw"],
        topic_results=t["results"],
        topic_dlq=t["dlq"],
        topic_control=t["control"],
        topic_control_events=t["events"],
    )
    redis = RedisSettings(
        url=SecretStr(dep.env["CRONOS_REDIS_URL"]), key_prefix=dep.env["CRONOS_REDIS_KEY_PREFIX"]
    )
    store = VersionStore.from_settings(redis)
    cfg = DrillConfig(probe_frames=120, rate=40, timeout_s=60, workers=2)
    try:
        report = await run_drill(kafka, store, HMAC_KEY, cfg, "tests@ci", print)
        pointer = await store.get_active("field_detector")
    finally:
        await store.aclose()
    console = Console(file=io.StringIO(), width=110, record=True)
    render(report, console)
    print("\n" + console.export_text())

    assert (report.original, report.previous) == ("1.1.0", "1.0.0")
    assert report.ok, report.problems()
    for phase in (TO_PREVIOUS, BACK):
        done = {a.worker_id: a for a in report.applied if a.phase == phase}
        assert set(done) == {"w1", "w2"}
        assert all(
            a.outcome == "applied" and a.applied_ms > 0 and a.wall_ms > 0 for a in done.values()
        )
    assert report.sent >= 120 and report.lost == 0
    assert report.results + report.dead_letters >= report.sent
    seen = {v for seq in report.sequences.values() for v, _ in seq}
    assert seen == {"1.0.0", "1.1.0"}
    assert report.final_version == "1.1.0" and pointer is not None and pointer.version == "1.1.0"
