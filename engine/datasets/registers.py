"""16-bit register values as real Modbus devices hold them (shared by the Modbus generators)."""

from __future__ import annotations

import random


def register_values(rng: random.Random, n: int) -> list[int]:
    """``n`` 16-bit register values from one of a few regimes seen on real devices."""
    regime = rng.choice(["small", "mid", "random", "sequence", "sequence", "zeros"])
    if regime == "small":
        return [rng.randrange(0x100) for _ in range(n)]
    if regime == "mid":
        return [rng.randrange(0x03E8, 0x1000) for _ in range(n)]
    if regime == "random":
        return [rng.randrange(0x10000) for _ in range(n)]
    if regime == "zeros":
        return [0 if rng.random() < 0.8 else rng.randrange(0x10000) for _ in range(n)]
    # Counters / simulated devices: a base (often unit * 1000) plus the register index.
    base = rng.choice([rng.randrange(0x100), rng.randrange(1, 60) * 1000, rng.randrange(0xF000)])
    step = rng.choice([1, 1, 1, 0, 2])
    return [(base + i * step) & 0xFFFF for i in range(n)]
