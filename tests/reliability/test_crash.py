"""Crash: SIGKILL a worker at random moments under steady load; nothing may be lost."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.reliability.harness import (
    Scale,
    Tally,
    modbus_frames,
    record_figures,
    start_load,
)
from tests.support.deployment import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(600)]


async def test_sigkill_at_random_moments_loses_nothing(
    deployment: Deployment, scale: Scale
) -> None:
    dep = deployment
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    rng = random.Random(20)
    # Enough frames that the load outlasts every kill/restart cycle (about 10 s each here).
    rate = 40.0
    records = modbus_frames(int(rate * 12 * (scale.kills + 1)), "crash-")
    dep.start("w0")
    recoveries: list[float] = []
    async with Tally(broker, dep.topics) as tally:
        load = await start_load(broker, dep.topics["raw"], records, rate)
        try:
            for kill in range(scale.kills):
                recoveries.append(await tally.wait_progress(120, dep.check_alive))
                # A random moment while the worker is consuming: mid-batch or between batches.
                await asyncio.sleep(rng.uniform(0.0, 2.0))
                dep.kill(f"w{kill}")
                dep.start(f"w{kill + 1}")
            recoveries.append(await tally.wait_progress(120, dep.check_alive))
        finally:
            await load.stop()
        published = load.published
        took = await tally.settle(published, 120, dep.check_alive)
        fig = tally.figures(f"crash: SIGKILL x{scale.kills}", published)
    fig.recovery_s = max(recoveries[1:], default=None)
    fig.passed = fig.lost == 0
    fig.note = f"settled {took:.1f} s after load stopped"
    record_figures(fig)
    assert len(published) > 0
    assert fig.lost == 0, f"{fig.lost} frames lost: {sorted(tally.missing(published))[:10]}"
    assert fig.results + fig.dead_letters == fig.published
