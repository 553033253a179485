"""How a model's outputs become cuts: the CRF path, the boundary head, or the head as fallback.

A model trained with a boundary head (:class:`~engine.detection.model.BiLSTMCRF`,
``boundary_head=1``) gives two readings of the same forward pass:

* ``crf``: fields are the Viterbi path's spans (types and cuts from one tag sequence);
* ``head``: cuts where the head's logit is above :data:`HEAD_CUT_LOGIT` (probability 0.5),
  each span typed by the Viterbi tag of its first byte. It needs no type grammar, so it is
  the reading for protocols the CRF never saw;
* ``auto``: the CRF's reading, except for messages whose mean CRF confidence (posterior of the
  decoded tags, over the message's bytes) is below ``fallback_below``, which get the head's.

A model without a head always reads ``crf``. Confidences stay the CRF's marginals in every
reading. ``docs/detector.md`` gives the measurements that chose the defaults.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Reading = Literal["crf", "head", "auto"]
READINGS: tuple[Reading, ...] = ("crf", "head", "auto")
#: Logit above which the head cuts (sigmoid 0.5).
HEAD_CUT_LOGIT = 0.0


def row_confidence(chosen: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B,)`` mean of ``chosen`` (posterior of the decoded tag per byte) over each row's bytes.

    Padding in ``chosen`` must be 0 (as :func:`~engine.detection.decoding.crf_marginals` leaves
    it).
    """
    return chosen.sum(axis=1) / np.maximum(lengths, 1)


def choose_cuts(
    crf_cuts: np.ndarray,
    cut_logits: np.ndarray | None,
    confidence: np.ndarray,
    reading: Reading,
    fallback_below: float,
) -> np.ndarray | None:
    """``(B, T)`` field starts to decode with, or ``None`` to keep the CRF path's own.

    Args:
        crf_cuts: The Viterbi paths' field starts (:meth:`TagSet.cut_mask`).
        cut_logits: The head's ``(B, T)`` logits, ``None`` for a model without a head.
        confidence: ``(B,)`` mean CRF confidence per message (:func:`row_confidence`).
        reading: See the module docstring.
        fallback_below: ``auto`` reads the head for messages below this confidence.
    """
    if cut_logits is None or reading == "crf":
        return None
    head = cut_logits > HEAD_CUT_LOGIT
    if reading == "head":
        return head
    use_head = confidence < fallback_below
    if not use_head.any():
        return None
    return np.where(use_head[:, None], head, crf_cuts)
