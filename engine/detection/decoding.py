"""CRF decoding: Viterbi paths and posterior marginals, compiled with numba.

pytorch-crf's ``decode`` runs a tensor operation per time step and walks back through every
sequence in Python; for one 64-byte frame that is ~900 tiny operations (~2.5 ms on 2 cores),
and a vectorised torch version is still ~6 ms per frame from per-operation overhead. These
kernels run the recursions as plain loops compiled by numba (~0.25 ms for a 64-byte frame, and
faster than the vectorised torch version at batch 256 too).

* Viterbi follows pytorch-crf's float32 arithmetic operand for operand,
  ``max_i((score_i + trans_ij) + em_tj)``, with the first maximum winning ties like
  ``torch.max``, so paths are identical — ``tests/engine/detection/test_decoding.py`` checks it.
* Marginals use the scaled forward–backward algorithm in probability space (float64): shifting
  scores by a constant per position and normalising per step leave the posteriors unchanged.

The first call in a process compiles the kernels (a few seconds); ``cache=True`` stores the
machine code beside the module for later processes.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

# The kernels release the GIL, so rows of a large batch are split across threads (one per core
# on the 2-core target). Below this many rows the hand-off costs more than it saves.
_PARALLEL_MIN_ROWS = 16
_THREADS = 2
_pool = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="crf-decode")


def _for_rows(n_rows: int, run: Callable[[int, int], None]) -> None:
    """Call ``run(lo, hi)`` over row ranges covering ``range(n_rows)``, in parallel if large."""
    if n_rows < _PARALLEL_MIN_ROWS:
        run(0, n_rows)
        return
    step = -(-n_rows // _THREADS)
    futures = [_pool.submit(run, lo, min(lo + step, n_rows)) for lo in range(0, n_rows, step)]
    for f in futures:
        f.result()


@njit(cache=True, nogil=True)
def _viterbi_one(
    em: np.ndarray,
    n: int,
    start: np.ndarray,
    end: np.ndarray,
    trans: np.ndarray,
    path: np.ndarray,
) -> None:
    k = em.shape[1]
    score = np.empty(k, dtype=np.float32)
    nxt = np.empty(k, dtype=np.float32)
    back = np.empty((n, k), dtype=np.int64)
    for j in range(k):
        score[j] = start[j] + em[0, j]
    for t in range(1, n):
        # Outer loop over the previous tag, inner over the next one: the inner loop is
        # element-wise (no reduction), so it vectorises without fastmath. Visiting i in
        # ascending order with a strict ">" keeps the first maximum, like torch.max.
        for j in range(k):
            nxt[j] = (score[0] + trans[0, j]) + em[t, j]
            back[t, j] = 0
        for i in range(1, k):
            s_i = score[i]
            for j in range(k):
                v = (s_i + trans[i, j]) + em[t, j]
                if v > nxt[j]:
                    nxt[j] = v
                    back[t, j] = i
        score[:] = nxt
    best = score[0] + end[0]
    cur = 0
    for j in range(1, k):
        v = score[j] + end[j]
        if v > best:
            best = v
            cur = j
    path[n - 1] = cur
    for t in range(n - 1, 0, -1):
        cur = back[t, cur]
        path[t - 1] = cur


@njit(cache=True, nogil=True, fastmath=True)
def _marginals_one(
    em: np.ndarray,
    n: int,
    start: np.ndarray,
    end: np.ndarray,
    exp_trans: np.ndarray,
    out: np.ndarray,
) -> None:
    # fastmath lets the inner sums vectorise; marginals are compared with a tolerance anyway
    # (Viterbi, which must match pytorch-crf exactly, stays strict).
    k = em.shape[1]
    exp_trans_t = np.ascontiguousarray(exp_trans.T)
    e = np.empty((n, k))
    for t in range(n):
        m = em[t, 0]
        for j in range(1, k):
            m = max(m, em[t, j])
        for j in range(k):
            e[t, j] = np.exp(np.float64(em[t, j]) - m)
    alpha = np.empty((n, k))
    smax = start.max()
    total = 0.0
    for j in range(k):
        alpha[0, j] = np.exp(np.float64(start[j]) - smax) * e[0, j]
        total += alpha[0, j]
    alpha[0] /= total
    for t in range(1, n):
        total = 0.0
        for j in range(k):
            acc = 0.0
            for i in range(k):
                acc += alpha[t - 1, i] * exp_trans_t[j, i]
            alpha[t, j] = acc * e[t, j]
            total += alpha[t, j]
        alpha[t] /= total
    beta = np.empty((n, k))
    emax = end.max()
    for j in range(k):
        beta[n - 1, j] = np.exp(np.float64(end[j]) - emax)
    v = np.empty(k)
    for t in range(n - 2, -1, -1):
        for j in range(k):
            v[j] = e[t + 1, j] * beta[t + 1, j]
        total = 0.0
        for i in range(k):
            acc = 0.0
            for j in range(k):
                acc += exp_trans[i, j] * v[j]
            beta[t, i] = acc
            total += acc
        beta[t] /= total
    for t in range(n):
        z = 0.0
        for j in range(k):
            z += alpha[t, j] * beta[t, j]
        for j in range(k):
            out[t, j] = alpha[t, j] * beta[t, j] / z


def _as_f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def viterbi_decode(
    emissions: np.ndarray,
    lengths: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    transitions: np.ndarray,
) -> np.ndarray:
    """Best tag path per sequence.

    Args:
        emissions: ``(B, T, K)`` emission scores, right-padded.
        lengths: ``(B,)`` true lengths, each ≥ 1.
        start: ``(K,)`` start transition scores.
        end: ``(K,)`` end transition scores.
        transitions: ``(K, K)`` scores from tag i to tag j.

    Returns:
        ``(B, T)`` int64 tag ids; positions past a sequence's length are 0.
    """
    em, st, en, tr = _as_f32(emissions), _as_f32(start), _as_f32(end), _as_f32(transitions)
    paths = np.zeros(em.shape[:2], dtype=np.int64)

    def run(lo: int, hi: int) -> None:
        for row in range(lo, hi):
            _viterbi_one(em[row], int(lengths[row]), st, en, tr, paths[row])

    _for_rows(em.shape[0], run)
    return paths


def crf_marginals(
    emissions: np.ndarray,
    lengths: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    transitions: np.ndarray,
) -> np.ndarray:
    """Posterior probability of every tag at every position, ``(B, T, K)`` float64.

    Rows past a sequence's length are 0.
    """
    em, st, en = _as_f32(emissions), _as_f32(start), _as_f32(end)
    tr = np.asarray(transitions, dtype=np.float64)
    exp_trans = np.exp(tr - tr.max())
    out = np.zeros(em.shape, dtype=np.float64)

    def run(lo: int, hi: int) -> None:
        for row in range(lo, hi):
            _marginals_one(em[row], int(lengths[row]), st, en, exp_trans, out[row])

    _for_rows(em.shape[0], run)
    return out
