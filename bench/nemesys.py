"""NEMESYS baseline: unsupervised field boundaries from one message's bit congruence.

Kleber, Kopp, Kargl: "NEMESYS: Network Message Syntax Reverse Engineering by Analysis of the
Intrinsic Structure of Individual Messages", USENIX WOOT 2018. Re-implemented from the paper for
the accuracy benchmark (it is a baseline, so it lives in ``bench/``, not in ``engine/``):

1. bit congruence of neighbouring bytes, ``bc(i) = 1 - popcount(b[i-1] ^ b[i]) / 8``;
2. its delta ``Δbc(i) = bc(i) - bc(i-1)``, smoothed with a Gaussian of width ``sigma``;
3. on every rising edge of the smoothed curve (a local minimum to the next local maximum) the
   steepest step of the *unsmoothed* delta is the inflection; the cut goes one byte before it;
4. cuts that would leave a one-byte segment are dropped.

The authors' default ``sigma`` is 0.6. The refinements of the later NEMERE work (merging
character sequences, splitting zero runs) are not part of this baseline.
"""

from __future__ import annotations

import itertools

import numpy as np

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.float64)


def _gauss(x: np.ndarray, sigma: float) -> np.ndarray:
    """1-D Gaussian filter, reflecting at the edges, truncated at 4 sigma (scipy's defaults)."""
    radius = max(1, int(4.0 * sigma + 0.5))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, radius, mode="symmetric")
    return np.convolve(padded, kernel, mode="valid")


def _extrema(s: np.ndarray) -> list[tuple[int, bool]]:
    """Interior local extrema ``(index, is_max)`` of ``s``, in order (plateaus count once)."""
    out: list[tuple[int, bool]] = []
    for k in range(1, len(s) - 1):
        if s[k - 1] > s[k] <= s[k + 1]:
            out.append((k, False))
        elif s[k - 1] < s[k] >= s[k + 1]:
            out.append((k, True))
    return out


def nemesys_cuts(message: bytes, sigma: float = 0.6) -> list[int]:
    """Field start offsets (> 0) NEMESYS finds in ``message``."""
    n = len(message)
    if n < 4:
        return []
    b = np.frombuffer(message, dtype=np.uint8)
    bc = 1.0 - _POPCOUNT[b[1:] ^ b[:-1]] / 8.0  # bc[k] is between bytes k and k+1
    delta = np.diff(bc)  # delta[k] belongs to message offset k + 2
    smooth = _gauss(delta, sigma)
    cuts: list[int] = []
    ext = _extrema(smooth)
    for (lo, lo_is_max), (hi, hi_is_max) in itertools.pairwise(ext):
        if lo_is_max or not hi_is_max or hi - lo < 1:
            continue
        steps = np.diff(delta[lo : hi + 1])
        inflection = lo + 1 + int(np.argmax(steps))  # index into delta
        cuts.append(inflection + 2 - 1)  # to message offset, then one byte before
    candidates = [0, *sorted(set(c for c in cuts if 0 < c < n)), n]
    kept = [r for left, r in itertools.pairwise(candidates) if r - left > 1]
    return [c for c in kept if c < n]


def nemesys_spans(message: bytes, sigma: float = 0.6) -> list[tuple[int, int, str]]:
    """Untyped spans tiling ``message`` at :func:`nemesys_cuts`."""
    edges = [0, *nemesys_cuts(message, sigma), len(message)]
    return [(a, b, "unknown") for a, b in itertools.pairwise(edges) if a < b]
