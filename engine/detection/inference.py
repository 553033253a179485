"""Batched inference: messages in, tiling field boundaries with CRF confidences out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine.detection.batching import length_buckets, pad_bytes
from engine.detection.boundary import FieldBoundary
from engine.detection.decoding import crf_marginals, viterbi_decode
from engine.detection.model import BiLSTMCRF
from engine.detection.reading import Reading, choose_cuts, row_confidence
from engine.detection.tags import UNKNOWN_TYPE, TagSet

# Bound on padded positions per forward pass, so one 64 KiB frame cannot share a batch with
# 255 others and blow memory.
MAX_TOKENS_PER_BATCH = 64 * 1024


@torch.inference_mode()
def predict_batch(
    model: BiLSTMCRF,
    tagset: TagSet,
    messages: Sequence[bytes],
    device: torch.device,
    *,
    reading: Reading = "crf",
    fallback_below: float = 0.0,
) -> list[list[FieldBoundary]]:
    """Fields of one padded batch: Viterbi path, then each span's mean posterior marginal.

    ``reading`` and ``fallback_below`` choose where the cuts come from
    (:mod:`engine.detection.reading`); a model without a boundary head always reads ``crf``.
    """
    ids, lengths = pad_bytes(messages)
    em, cut_logits = model.emissions_and_cuts(ids.to(device), lengths.to(device))
    emissions = em.float().cpu().numpy()
    crf = model.crf
    args = tuple(
        a.detach().cpu().numpy()
        for a in (crf.start_transitions, crf.end_transitions, crf.transitions)
    )
    lens = lengths.numpy()
    paths = viterbi_decode(emissions, lens, *args)
    post = crf_marginals(emissions, lens, *args)
    chosen = np.take_along_axis(post, paths[:, :, None], axis=2)[:, :, 0]
    # Prefix sums turn every span's mean into two lookups; everything stays vectorised over
    # the batch until the result objects are made.
    csum = np.concatenate([np.zeros((chosen.shape[0], 1)), np.cumsum(chosen, axis=1)], axis=1)
    cuts = None
    if cut_logits is not None and reading != "crf":
        crf_cuts = tagset.cut_mask(paths)
        cuts = choose_cuts(
            crf_cuts,
            cut_logits.float().cpu().numpy(),
            row_confidence(chosen, lens),
            reading,
            fallback_below,
        )
        if cuts is None:  # nobody fell back: reuse the mask rather than compute it again
            cuts = crf_cuts
    rows, starts, ends, types = tagset.decode_flat(paths, lens, cuts)
    means = (csum[rows, ends] - csum[rows, starts]) / (ends - starts)
    names = np.array([*tagset.field_types, UNKNOWN_TYPE], dtype=object)  # id -1 → last entry
    fields = list(
        map(
            FieldBoundary._make,
            zip(starts.tolist(), ends.tolist(), names[types].tolist(), means.tolist(), strict=True),
        )
    )
    bounds = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(messages)))])
    return [fields[lo:hi] for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]


def predict_boundaries(
    model: BiLSTMCRF,
    tagset: TagSet,
    messages: Sequence[bytes],
    *,
    batch_size: int,
    device: torch.device,
    max_waste: float | None = None,
    max_tokens: int = MAX_TOKENS_PER_BATCH,
    reading: Reading = "crf",
    fallback_below: float = 0.0,
) -> list[list[FieldBoundary]]:
    """Detect fields in many messages, in the caller's order, batching by length.

    Each forward pass holds at most ``batch_size`` messages and ``max_tokens`` padded
    positions, and (with ``max_waste``) at most that fraction of padding. Results do not depend
    on how messages are batched: the network keeps padding out of both LSTM directions and the
    CRF runs per message over its own length (up to float rounding of batched matrix products).
    """
    out: list[list[FieldBoundary]] = [[] for _ in messages]
    lengths = [len(m) for m in messages]
    for idx in length_buckets(lengths, batch_size, max_tokens, max_waste=max_waste):
        for i, fields in zip(
            idx,
            predict_batch(
                model,
                tagset,
                [messages[i] for i in idx],
                device,
                reading=reading,
                fallback_below=fallback_below,
            ),
            strict=True,
        ):
            out[i] = fields
    return out
