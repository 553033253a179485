"""Scores for the accuracy benchmark: the engine's metrics plus an untyped span F1.

``score_spans`` (engine) gives boundary P/R/F1 (cuts > 0, type ignored) and typed field F1 (exact
``(start, end, type)``, ``unknown`` spans left out). NEMESYS gives no types, so the table also
shows an *untyped* span F1 — exact ``(start, end)`` pairs, every span counted — for both methods.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.detection.boundary import Span
from engine.detection.scoring import PRF, score_spans


def untyped_span_f1(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> float:
    """F1 over exact ``(start, end)`` pairs, types ignored, every span counted."""
    prf = PRF()
    for p, g in zip(predicted, gold, strict=True):
        prf.add({(s[0], s[1]) for s in p}, {(s[0], s[1]) for s in g})
    return prf.f1


def score(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> dict[str, float]:
    """Boundary P/R/F1, typed field F1 and untyped span F1."""
    s = score_spans(predicted, gold)
    return {
        "boundary_precision": s["boundary_precision"],
        "boundary_recall": s["boundary_recall"],
        "boundary_f1": s["boundary_f1"],
        "field_f1": s["f1"],
        "span_f1": untyped_span_f1(predicted, gold),
    }
