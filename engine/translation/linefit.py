"""Fitting ``y = x * scale + offset`` to example values, with decimal-friendly snapping.

Used by the learner to propose linear and scaled-decode rules and by
:mod:`engine.translation.holdout` to refit them on part of the examples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

#: Scales tried when fewer than two distinct inputs pin one down, and snapped to when close.
NICE_SCALES = (1.0, 0.1, 0.01, 0.001, 10.0, 100.0, 1000.0, 0.5, 2.0, 0.25, 4.0, 0.2, 5.0)


def snap(value: float) -> float:
    """A fitted scale, snapped to a nice one (±) when within 1e-6 relative of it."""
    for nice in NICE_SCALES:
        for signed in (nice, -nice):
            if math.isclose(value, signed, rel_tol=1e-6):
                return signed
    return float(f"{value:.12g}")


def snap_offset(value: float) -> float:
    """A fitted offset, rounded to 6 decimals when that changes it by float noise only."""
    rounded = round(value, 6)
    return rounded if math.isclose(value, rounded, rel_tol=1e-9, abs_tol=1e-9) else value


def distinct_inputs(xs: Sequence[float]) -> int:
    """How many different input values there are (two pin a line down)."""
    return len(set(xs))


def line_params(xs: Sequence[float], ys: Sequence[float]) -> Iterator[tuple[float, float]]:
    """``(scale, offset)`` hypotheses for the points.

    With two or more distinct inputs, the one line through the first two (later points are
    checked by the caller); with one, every :data:`NICE_SCALES` scale without offset.
    """
    distinct = {x: y for x, y in zip(xs, ys, strict=True)}
    if len(distinct) >= 2:
        (x0, y0), (x1, y1) = list(distinct.items())[:2]
        scale = snap((y1 - y0) / (x1 - x0))
        yield scale, snap_offset(y0 - scale * x0)
    else:
        # One input value: only scale-without-offset hypotheses are checkable.
        for nice in NICE_SCALES:
            yield nice, 0.0
