"""Swap under load: alternating swaps and rollbacks while frames flow.

Checks: 0 frames lost; in every partition the results' ``detector_version`` moves through the
applied versions in order, one step per swap (a batch never flips back and forth, which a
batch half on one model and half on another would show); and every result was produced in the
window when its version was active: not before its command was sent, and not after the next
version's ``applied`` event plus the length of one batch.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pytest

from streams.control.events import ControlEvent
from tests.reliability.harness import Scale, Tally, modbus_frames, record_figures, start_load
from tests.support.deployment import Deployment
from tests.support.stream import TopicReader, command, produce

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(600)]

BATCH_SLACK_S = 3.0  # one batch in flight when a swap lands may still finish on the old model


async def test_swaps_and_rollbacks_under_load(deployment: Deployment, scale: Scale) -> None:
    dep, broker = deployment, deployment.env["CRONOS_KAFKA_BROKER"]
    dep.start("w1")
    rate = 60.0
    records = modbus_frames(int(rate * (15 + 4 * scale.swaps)), "swap-")
    # windows[i] = (version, sent_at, applied_at); version 0 is the bootstrap one.
    windows: list[tuple[str, float, float]] = [("1.0.0", 0.0, 0.0)]
    async with Tally(broker, dep.topics) as tally, TopicReader(broker, dep.topics["events"]) as ev:
        load = await start_load(broker, dep.topics["raw"], records, rate)
        try:
            await tally.wait_progress(120, dep.check_alive)
            for i in range(scale.swaps):
                if i % 2 == 0:
                    raw, version = command("swap", {"version": "1.1.0"}), "1.1.0"
                else:
                    raw, version = command("rollback", {"steps": 1}), "1.0.0"
                sent = time.time()
                await produce(broker, dep.topics["control"], [(None, raw, [])])
                cid = _id(raw)

                def applied(recs: list, cid: str = cid) -> list[ControlEvent]:
                    evs = [ControlEvent.from_json(r.value) for r in recs]
                    return [e for e in evs if e.command_id == cid]

                await ev.until(lambda recs, f=applied: bool(f(recs)), 90)  # type: ignore[misc]
                [event] = applied(ev.records)
                assert (event.outcome, event.to_version) == ("applied", version), event
                windows.append((version, sent, event.at.timestamp()))
                await tally.wait_progress(60, dep.check_alive)  # frames flow between swaps
            await load.wait(300)
        finally:
            await load.stop()
        took = await tally.settle(load.published, 120, dep.check_alive)
        fig = tally.figures(f"swap under load: {scale.swaps} swaps/rollbacks", load.published)

    by_part: dict[int, list[tuple[int, float, str]]] = defaultdict(list)
    for part, offset, ts, doc in tally.placed:
        by_part[part].append((offset, ts, doc["detector_version"]))

    def end(k: int) -> float:
        return windows[k + 1][2] + BATCH_SLACK_S if k + 1 < len(windows) else float("inf")

    stamped_wrong = 0
    for rows in by_part.values():
        k = 0  # the window this partition is in; it only moves forward
        for _, ts, version in sorted(rows):
            j = k
            while j < len(windows) and (version != windows[j][0] or ts > end(j)):
                j += 1
            if j == len(windows) or ts < windows[j][1] - 0.5:
                stamped_wrong += 1
                continue
            k = j
    fig.recovery_s = max(w[2] - w[1] for w in windows[1:])
    fig.passed = fig.lost == 0 and stamped_wrong == 0
    fig.note = f"max swap latency; settled in {took:.1f} s; {stamped_wrong} stamped outside"
    record_figures(fig)
    assert fig.lost == 0, sorted(tally.missing(load.published))[:10]
    assert stamped_wrong == 0


def _id(raw: bytes) -> str:
    import orjson

    return str(orjson.loads(raw)["id"])
