"""CRF decoding: batched Viterbi paths and posterior marginals.

pytorch-crf's ``decode`` walks back through every sequence in Python; here the backtrace is one
gather per time step for the whole batch. The forward recursion mirrors pytorch-crf's arithmetic
(same operands, same order), so paths are identical — ``tests/unit/test_decoding.py`` checks it.

Marginals come from the scaled forward–backward algorithm in probability space: exponentiated
transitions become one batched matrix product per step instead of a log-sum-exp over a
``(B, K, K)`` tensor. Per-step normalisation keeps the values in range; marginals are invariant
to those scalings.
"""

from __future__ import annotations

import torch
from torch import Tensor


def viterbi_decode(
    emissions: Tensor, lengths: Tensor, start: Tensor, end: Tensor, transitions: Tensor
) -> Tensor:
    """Best tag path per sequence.

    Args:
        emissions: ``(B, T, K)`` emission scores, right-padded.
        lengths: ``(B,)`` true lengths, each ≥ 1.
        start: ``(K,)`` start transition scores.
        end: ``(K,)`` end transition scores.
        transitions: ``(K, K)`` scores from tag i to tag j.

    Returns:
        ``(B, T)`` long tensor of tag ids; positions past a sequence's length are 0.
    """
    em = emissions.transpose(0, 1)  # (T, B, K), time-major like pytorch-crf
    t_max, batch = em.shape[0], em.shape[1]
    score = start + em[0]
    history: list[Tensor] = []
    for t in range(1, t_max):
        next_score = score.unsqueeze(2) + transitions + em[t].unsqueeze(1)
        next_score, indices = next_score.max(dim=1)
        active = (lengths > t).unsqueeze(1)
        score = torch.where(active, next_score, score)
        history.append(indices)
    score = score + end
    current = score.argmax(dim=1)
    path = torch.zeros(batch, t_max, dtype=torch.long)
    for t in range(t_max - 1, 0, -1):
        active = lengths > t
        path[:, t] = torch.where(active, current, 0)
        previous = history[t - 1].gather(1, current.unsqueeze(1)).squeeze(1)
        current = torch.where(active, previous, current)
    path[:, 0] = current
    return path


def crf_marginals(
    emissions: Tensor, lengths: Tensor, start: Tensor, end: Tensor, transitions: Tensor
) -> Tensor:
    """Posterior probability of every tag at every position, ``(B, T, K)``.

    Rows past a sequence's length are undefined (but finite). Computed in float64.
    """
    em = emissions.double().transpose(0, 1)  # (T, B, K)
    t_max = em.shape[0]
    # Shifting scores by a constant per position or per matrix leaves marginals unchanged.
    e = torch.exp(em - em.amax(dim=2, keepdim=True))
    tr = transitions.double()
    tr_exp = torch.exp(tr - tr.max())
    start_exp = torch.exp(start.double() - start.double().max())
    end_exp = torch.exp(end.double() - end.double().max())

    alpha = torch.empty_like(e)
    a = start_exp * e[0]
    alpha[0] = a / a.sum(dim=1, keepdim=True)
    for t in range(1, t_max):
        a = (alpha[t - 1] @ tr_exp) * e[t]
        alpha[t] = a / a.sum(dim=1, keepdim=True)

    beta = torch.empty_like(e)
    last = (lengths - 1).unsqueeze(1)
    ones = torch.ones_like(e[0])
    beta[t_max - 1] = torch.where(last == t_max - 1, end_exp.expand_as(ones), ones)
    for t in range(t_max - 2, -1, -1):
        b = (e[t + 1] * beta[t + 1]) @ tr_exp.T
        b = b / b.sum(dim=1, keepdim=True)
        b = torch.where(last == t, end_exp.expand_as(b), torch.where(last > t, b, ones))
        beta[t] = b

    post = alpha * beta
    post = post / post.sum(dim=2, keepdim=True)
    return post.transpose(0, 1)
