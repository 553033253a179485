"""Scores for field detection.

* Field spans: precision/recall/F1 over exact ``(start, end, type)`` triples, micro-averaged over
  all messages. Spans of type ``unknown`` (bytes labelled with no field) are not scored as fields.
* Boundaries: precision/recall/F1 over the cut positions, i.e. start offsets other than 0, with
  the type ignored — the measure protocol-reverse-engineering papers report. Offset 0 is left out
  because every message starts a field there; counting it would inflate every score.
* Accuracy: fraction of bytes whose predicted tag equals the gold tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.detection.boundary import Span
from engine.detection.tags import UNKNOWN_TYPE


@dataclass
class PRF:
    """Counts with derived precision, recall and F1 (0 when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[object], gold: set[object]) -> None:
        hit = len(predicted & gold)
        self.tp += hit
        self.fp += len(predicted) - hit
        self.fn += len(gold) - hit

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _scored(spans: Iterable[Span]) -> set[object]:
    return {s for s in spans if s[2] != UNKNOWN_TYPE}


def _cuts(spans: Iterable[Span]) -> set[object]:
    return {s[0] for s in spans if s[0] > 0}


def score_spans(
    predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]
) -> dict[str, float]:
    """Field and boundary P/R/F1 for parallel lists of predicted and gold spans per message."""
    fields, cuts = PRF(), PRF()
    for p, g in zip(predicted, gold, strict=True):
        fields.add(_scored(p), _scored(g))
        cuts.add(_cuts(p), _cuts(g))
    return {
        "precision": fields.precision,
        "recall": fields.recall,
        "f1": fields.f1,
        "boundary_precision": cuts.precision,
        "boundary_recall": cuts.recall,
        "boundary_f1": cuts.f1,
    }


def byte_accuracy(predicted: Sequence[Sequence[int]], gold: Sequence[Sequence[int]]) -> float:
    """Fraction of positions where the predicted tag id equals the gold one."""
    total = correct = 0
    for p, g in zip(predicted, gold, strict=True):
        total += len(g)
        correct += sum(1 for a, b in zip(p, g, strict=True) if a == b)
    return correct / total if total else 0.0
