"""Consumer-group changes: a second worker joins and leaves under load; SIGTERM is graceful."""

from __future__ import annotations

import pytest

from tests.reliability.harness import (
    Scale,
    Tally,
    modbus_frames,
    record_figures,
    start_load,
    terminate,
    until,
)
from tests.support.deployment import Deployment
from tests.support.stream import produce

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(400)]

SHUTDOWN_BOUND_S = 15.0


async def test_second_worker_joins_and_leaves_under_load(
    deployment: Deployment, scale: Scale
) -> None:
    dep, broker = deployment, deployment.env["CRONOS_KAFKA_BROKER"]
    dep.start("w1")
    records = modbus_frames(40 * 30, "rb-")
    async with Tally(broker, dep.topics) as tally:
        load = await start_load(broker, dep.topics["raw"], records, 40)
        try:
            await tally.wait_progress(120, dep.check_alive)
            dep.start("w2")

            # w2 has joined once it logs a partition assignment of the raw topic.
            def assigned() -> bool:
                dep.check_alive()
                return dep.topics["raw"] in dep.log("w2")

            joined = await until(assigned, 120, "w2 to be assigned partitions")
            await tally.wait_progress(60, dep.check_alive)
            code, _ = terminate(dep, "w2")
            await tally.wait_progress(60, dep.check_alive)
            await load.wait(180)
        finally:
            await load.stop()
        took = await tally.settle(load.published, 120, dep.check_alive)
        fig = tally.figures("rebalance: 2nd worker joins, leaves", load.published)
    fig.recovery_s = joined
    fig.passed = fig.lost == 0
    fig.note = f"w2 exit {code}; settled in {took:.1f} s"
    record_figures(fig)
    assert fig.lost == 0, sorted(tally.missing(load.published))[:10]


async def test_sigterm_finishes_the_batch_commits_and_exits(deployment: Deployment) -> None:
    dep, broker = deployment, deployment.env["CRONOS_KAFKA_BROKER"]
    frames = modbus_frames(1500, "gs-")
    ids = [f"gs-{i}" for i in range(len(frames))]
    await produce(broker, dep.topics["raw"], frames)
    dep.start("w1")
    async with Tally(broker, dep.topics) as tally:
        await tally.wait_progress(120, dep.check_alive)
        await tally.wait_progress(30, dep.check_alive)
        code, took = terminate(dep, "w1", timeout_s=60)
        await tally.poll(1.0)
        done_at_stop = len(tally.outcome_ids())
        dep.start("w2")
        settled = await tally.settle(ids, 180, dep.check_alive)
        fig = tally.figures("graceful shutdown (SIGTERM)", ids)
    fig.recovery_s = took
    fig.passed = fig.lost == 0 and code == 0 and took <= SHUTDOWN_BOUND_S and fig.duplicates == 0
    fig.note = f"exit {code} in {took:.1f} s; {done_at_stop} done before; settled {settled:.0f} s"
    record_figures(fig)
    assert done_at_stop < len(ids), "the worker finished everything before SIGTERM"
    assert fig.lost == 0
    assert code == 0 and took <= SHUTDOWN_BOUND_S, (code, took, dep.log("w1"))
    # Finished and committed: the next worker starts after the last published frame.
    assert fig.duplicates == 0, f"{fig.duplicates} frames processed twice"
