"""Mutated and random frames through a running worker: no crash, one outcome per frame.

Frames are real Modbus/TCP ADUs from the public capture in tests/data/captures, mutated with
bit flips, truncations, extensions, forged MBAP lengths (up to 65535) and oversize padding,
plus purely random bytes, empty frames and hostile headers. Every frame must end as exactly
one result or one dead letter (no duplicates without a fault), and the worker must stay up.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from engine.translation.pcap import modbus_adus
from tests.reliability.harness import Record, Scale, Tally, record_figures
from tests.support.deployment import Deployment
from tests.support.paths import MODBUS_CAPTURE
from tests.support.stream import produce

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(900)]

CAPTURE = MODBUS_CAPTURE
MAX_FRAME = 512  # CRONOS_MAX_FRAME_BYTES of the e2e deployment


def mutate(rng: random.Random, real: list[bytes], i: int) -> tuple[str, bytes]:
    """One hostile frame and the name of the mutation that made it."""
    base = bytearray(rng.choice(real))
    kind = rng.choice(
        ["flip", "flip", "truncate", "extend", "length", "huge", "random", "empty", "real"]
    )
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            base[rng.randrange(len(base))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del base[rng.randrange(len(base)) :]
    elif kind == "extend":
        base += rng.randbytes(rng.randint(1, 200))
    elif kind == "length":
        base[4:6] = rng.choice([0, 1, 0xFF, 0xFFFF, rng.randrange(1 << 16)]).to_bytes(2, "big")
    elif kind == "huge":
        base += b"\xff" * rng.randint(MAX_FRAME, 4 * MAX_FRAME)
    elif kind == "random":
        base = bytearray(rng.randbytes(rng.randint(1, 300)))
    elif kind == "empty":
        base = bytearray()
    return kind, bytes(base)


def hostile_records(n: int, seed: int) -> tuple[list[Record], Counter[str]]:
    rng = random.Random(seed)
    real = [adu for _, adu in modbus_adus(CAPTURE)]
    kinds: Counter[str] = Counter()
    out: list[Record] = []
    for i in range(n):
        kind, data = mutate(rng, real, i)
        kinds[kind] += 1
        headers = [("frame-id", f"fz-{i}".encode())]
        roll = rng.random()
        if roll < 0.05:
            headers.append(("protocol", rng.randbytes(6)))  # not UTF-8 / not a name
        elif roll < 0.10:
            headers.append(("target", b"mqtt"))  # no rules loaded: no_rules
        else:
            headers.append(("protocol", b"modbus"))
        out.append((rng.randbytes(4) if rng.random() < 0.5 else None, data, headers))
    return out, kinds


async def test_mutated_frames_each_get_one_outcome(deployment: Deployment, scale: Scale) -> None:
    dep, broker = deployment, deployment.env["CRONOS_KAFKA_BROKER"]
    records, kinds = hostile_records(scale.fuzz_frames, seed=7)
    ids = [f"fz-{i}" for i in range(len(records))]
    dep.start("w1")
    async with Tally(broker, dep.topics) as tally:
        for i in range(0, len(records), 1000):
            await produce(broker, dep.topics["raw"], records[i : i + 1000])
        took = await tally.settle(ids, 120 + len(records) / 50, dep.check_alive)
        fig = tally.figures(f"fuzz stream: {len(records)} mutated frames", ids)
    dep.check_alive()
    both = set(tally.results) & set(tally.dead)
    reasons = Counter(h.get("error", b"?").decode() for h in tally.dead_headers)
    fig.recovery_s = None
    fig.passed = fig.lost == 0 and fig.duplicates == 0 and not both
    fig.note = f"{took:.0f} s; dead letters by reason {dict(reasons)}"
    record_figures(fig)
    assert fig.lost == 0, sorted(tally.missing(ids))[:10]
    assert fig.duplicates == 0 and not both
    assert kinds["empty"] == 0 or reasons["empty_frame"] > 0
    assert kinds["huge"] == 0 or reasons["oversized_frame"] > 0
