"""The loop over epochs and batches: one pass, validation scores, early stopping, best weights.

Plain functions over a model and encoded frames, with no detector state: the
:class:`~engine.detection.trainer.DetectorTrainer` builds the optimizer and scheduler, hands them
in, and saves checkpoints from the per-epoch callback (the CLI draws a progress bar from it too).
:func:`evaluate` is also what quantization and the benchmarks score a model with.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.detection.batching import length_buckets, pad_bytes, pad_tags
from engine.detection.dataset import LabelledFrame
from engine.detection.decoding import viterbi_decode
from engine.detection.model import BiLSTMCRF
from engine.detection.scoring import byte_accuracy, score_spans
from engine.detection.tags import TagSet

log = logging.getLogger(__name__)

#: Padded positions per training step; bounds memory for long frames.
MAX_TRAIN_TOKENS = 32 * 1024


@dataclass
class Encoded:
    """Frames with their tag ids under one tag set."""

    frames: list[LabelledFrame]
    tags: list[list[int]]

    @classmethod
    def build(cls, frames: Sequence[LabelledFrame], tagset: TagSet) -> Encoded:
        """Encode each frame's spans as BIOES tag ids of ``tagset``."""
        return cls(list(frames), [tagset.encode(len(f.message), f.spans) for f in frames])


@dataclass
class EpochResult:
    """Scores of one epoch."""

    train_loss: float
    val: dict[str, float]
    seconds: float
    lr: float


#: ``on_epoch(epoch, result, improved)``, called after each epoch; ``improved`` means a better
#: validation F1 than any earlier epoch of this run.
EpochCallback = Callable[[int, EpochResult, bool], None]


@dataclass
class TrainState:
    """Best-so-far tracking across epochs (for early stopping and save_best_only)."""

    best_f1: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None
    stale_epochs: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)


def train_epoch(
    model: BiLSTMCRF,
    data: Encoded,
    optimizer: torch.optim.Optimizer,
    batch_size: int,
    rng: random.Random,
    device: torch.device,
    tagset: TagSet | None = None,
) -> float:
    """One pass over ``data``; returns the mean loss per frame.

    ``tagset`` gives a boundary head its targets (the gold paths' field starts); a model with
    a head cannot train without it.
    """
    model.train()
    if model.has_boundary_head and tagset is None:
        raise ValueError("a model with a boundary head trains with its tag set")
    total, count = 0.0, 0
    lengths = [len(f.message) for f in data.frames]
    for idx in length_buckets(lengths, batch_size, MAX_TRAIN_TOKENS, shuffle=rng):
        ids, lens = pad_bytes([data.frames[i].message for i in idx])
        tags, mask = pad_tags([data.tags[i] for i in idx], ids.shape[1])
        optimizer.zero_grad(set_to_none=True)
        cut_targets = None
        if tagset is not None and model.has_boundary_head:
            cut_targets = torch.from_numpy(tagset.cut_mask(tags.numpy())).to(device)
        loss = model.loss(
            ids.to(device), lens.to(device), tags.to(device), mask.to(device), cut_targets
        )
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
    return total / max(count, 1)


def _spans_from_cuts(cuts: np.ndarray) -> list[tuple[int, int, str]]:
    """Untyped spans (type ``""``) between the cuts of one message (``cuts[0]`` ignored)."""
    starts = [0, *(int(i) for i in np.flatnonzero(cuts[1:]) + 1)]
    return [(a, b, "") for a, b in zip(starts, [*starts[1:], len(cuts)], strict=True)]


@torch.inference_mode()
def evaluate(
    model: BiLSTMCRF, tagset: TagSet, data: Encoded, batch_size: int, device: torch.device
) -> dict[str, float]:
    """Loss, field and boundary P/R/F1 and byte accuracy of ``model`` on ``data``.

    With a boundary head, ``head_boundary_f1`` (and ``_precision``, ``_recall``) score the
    head's cuts alone (logit > 0).
    """
    model.eval()
    loss_sum = 0.0
    pred_tags: list[list[int]] = [[] for _ in data.frames]
    head_cuts: list[np.ndarray] = [np.zeros(0, dtype=bool) for _ in data.frames]
    lengths = [len(f.message) for f in data.frames]
    for idx in length_buckets(lengths, batch_size, MAX_TRAIN_TOKENS):
        ids, lens = pad_bytes([data.frames[i].message for i in idx])
        tags, mask = pad_tags([data.tags[i] for i in idx], ids.shape[1])
        em, cut_logits = model.emissions_and_cuts(ids.to(device), lens.to(device))
        nll = -model.crf(em, tags.to(device), mask=mask.to(device), reduction="sum")
        if cut_logits is not None:
            above = (cut_logits > 0).cpu().numpy()
            for j, i in enumerate(idx):
                head_cuts[i] = above[j, : lengths[i]]
        loss_sum += float(nll)
        c = model.crf
        paths = viterbi_decode(
            em.float().cpu().numpy(),
            lens.numpy(),
            *(
                a.detach().cpu().numpy()
                for a in (c.start_transitions, c.end_transitions, c.transitions)
            ),
        )
        for j, i in enumerate(idx):
            pred_tags[i] = paths[j, : lengths[i]].tolist()
    predicted = [
        [(s, e, tagset.type_name(t)) for s, e, t in tagset.decode(np.asarray(p))] for p in pred_tags
    ]
    gold = [
        [(s, e, tagset.type_name(t)) for s, e, t in tagset.decode(np.asarray(g))] for g in data.tags
    ]
    scores = score_spans(predicted, gold)
    if model.has_boundary_head:
        head = [_spans_from_cuts(c) for c in head_cuts]
        for key, value in score_spans(head, gold).items():
            if key.startswith("boundary_"):
                scores["head_" + key] = value
    scores["accuracy"] = byte_accuracy(pred_tags, data.tags)
    scores["loss"] = loss_sum / max(len(data.frames), 1)
    return scores


def run_epochs(
    model: BiLSTMCRF,
    tagset: TagSet,
    train: Encoded,
    val: Encoded,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
    num_epochs: int,
    batch_size: int,
    early_stopping_patience: int | None,
    rng: random.Random,
    device: torch.device,
    on_epoch: EpochCallback | None = None,
) -> TrainState:
    """Train for up to ``num_epochs`` epochs; restores the best weights before returning."""
    state = TrainState()
    for epoch in range(1, num_epochs + 1):
        t0 = time.perf_counter()
        loss = train_epoch(model, train, optimizer, batch_size, rng, device, tagset)
        val_scores = evaluate(model, tagset, val, batch_size, device)
        scheduler.step(val_scores["f1"])
        result = EpochResult(
            loss, val_scores, time.perf_counter() - t0, float(optimizer.param_groups[0]["lr"])
        )
        improved = val_scores["f1"] > state.best_f1 + 1e-6
        if improved:
            state.best_f1, state.best_epoch, state.stale_epochs = val_scores["f1"], epoch, 0
            state.best_state = copy.deepcopy(model.state_dict())
        else:
            state.stale_epochs += 1
        for key, value in (
            ("train_loss", loss),
            ("val_loss", val_scores["loss"]),
            ("val_precision", val_scores["precision"]),
            ("val_recall", val_scores["recall"]),
            ("val_f1", val_scores["f1"]),
            ("val_accuracy", val_scores["accuracy"]),
            ("val_boundary_precision", val_scores["boundary_precision"]),
            ("val_boundary_recall", val_scores["boundary_recall"]),
            ("val_boundary_f1", val_scores["boundary_f1"]),
            ("learning_rate", result.lr),
            ("epoch_time_seconds", result.seconds),
        ):
            state.history.setdefault(key, []).append(value)
        log.info(
            "epoch %d: loss %.4f val_f1 %.4f boundary_f1 %.4f (%.1fs)",
            epoch,
            loss,
            val_scores["f1"],
            val_scores["boundary_f1"],
            result.seconds,
        )
        if on_epoch is not None:
            on_epoch(epoch, result, improved)
        if early_stopping_patience is not None and state.stale_epochs >= early_stopping_patience:
            log.info("early stopping after epoch %d (best epoch %d)", epoch, state.best_epoch)
            break
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    return state
