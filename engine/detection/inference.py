"""Batched inference: messages in, tiling field boundaries with CRF confidences out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from engine.detection.batching import length_buckets, pad_bytes
from engine.detection.boundary import FieldBoundary
from engine.detection.decoding import crf_marginals, viterbi_decode
from engine.detection.model import BiLSTMCRF
from engine.detection.tags import TagSet

# Bound on padded positions per forward pass, so one 64 KiB frame cannot share a batch with
# 255 others and blow memory.
MAX_TOKENS_PER_BATCH = 64 * 1024


@torch.inference_mode()
def predict_paths(
    model: BiLSTMCRF, messages: Sequence[bytes], device: torch.device
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Viterbi tag paths and per-position marginal of the chosen tag, for one batch."""
    ids, lengths = pad_bytes(messages)
    ids = ids.to(device)
    lengths_d = lengths.to(device)
    emissions = model.emissions(ids, lengths_d).float()
    crf = model.crf
    args = (crf.start_transitions, crf.end_transitions, crf.transitions)
    em_cpu = emissions.cpu()
    cpu_args = tuple(a.detach().cpu() for a in args)
    paths = viterbi_decode(em_cpu, lengths, *cpu_args)
    post = crf_marginals(em_cpu, lengths, *cpu_args)
    chosen = post.gather(2, paths.unsqueeze(2)).squeeze(2).numpy()
    paths_np = paths.numpy()
    lens = lengths.tolist()
    return [paths_np[i, :n] for i, n in enumerate(lens)], [
        chosen[i, :n] for i, n in enumerate(lens)
    ]


def to_boundaries(tagset: TagSet, path: np.ndarray, probs: np.ndarray) -> list[FieldBoundary]:
    """Spans of a tag path with each span's mean posterior as its confidence."""
    spans = tagset.decode(path)
    starts = np.fromiter((s for s, _, _ in spans), dtype=np.int64, count=len(spans))
    sums = np.add.reduceat(probs, starts)
    return [
        FieldBoundary(s, e, tagset.type_name(t), float(sums[k] / (e - s)))
        for k, (s, e, t) in enumerate(spans)
    ]


def predict_boundaries(
    model: BiLSTMCRF,
    tagset: TagSet,
    messages: Sequence[bytes],
    *,
    batch_size: int,
    device: torch.device,
) -> list[list[FieldBoundary]]:
    """Detect fields in many messages, in the caller's order, batching by length."""
    out: list[list[FieldBoundary]] = [[] for _ in messages]
    lengths = [len(m) for m in messages]
    for idx in length_buckets(lengths, batch_size, MAX_TOKENS_PER_BATCH):
        paths, probs = predict_paths(model, [messages[i] for i in idx], device)
        for j, i in enumerate(idx):
            out[i] = to_boundaries(tagset, paths[j], probs[j])
    return out
