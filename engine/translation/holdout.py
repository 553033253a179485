"""Scoring candidate rules on examples held out from fitting.

Every candidate the learner keeps reproduces *all* examples, so fitting them says nothing about
which one generalises: a value map keyed by a field whose values never repeat fits any example
set. Here each candidate's parameters (a constant's value, a line's scale and offset, a map's
entries) are refitted on the examples of all folds but one and checked on the held-out fold —
leave-one-out up to :data:`MAX_FOLDS` examples, k-fold above. Rules without fitted parameters
(copy, bit, unscaled decode, template) predict every held-out example they fit.

A refit that the training folds do not pin down (one distinct input for a line, a map key no
training example has) counts as a miss: that hypothesis had no evidence for the held-out example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import TranslationError
from engine.translation.evaluate import apply_rule
from engine.translation.linefit import distinct_inputs, line_params
from engine.translation.rules import ConstantRule, DecodeRule, LinearRule, MapRule
from engine.translation.scalars import read_scalar
from engine.translation.validation import values_equal

#: Folds at most: leave-one-out up to this many examples, round-robin k-fold above (cost O(k·n)).
MAX_FOLDS = 10

#: ``(source values, target value)`` of one example for one target field.
Pair = tuple[dict[str, Any], Any]


@dataclass(frozen=True)
class Holdout:
    """How many held-out examples a candidate's refit predicted.

    Attributes:
        passed: Held-out examples translated exactly by the rule fitted without them.
        total: Examples held out (0 with fewer than two examples: nothing can be held out).
    """

    passed: int
    total: int

    @property
    def rate(self) -> float:
        """Share predicted (0..1); 0 when nothing could be held out."""
        return self.passed / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"held-out {self.passed}/{self.total}" if self.total else "nothing held out"


def fits(rule: Any, pairs: list[Pair]) -> bool:
    """Whether ``rule`` maps each source to its target value (same kind of value, bool ≠ int)."""
    for src, want in pairs:
        try:
            got = apply_rule(rule, src)
        except TranslationError:
            return False
        if type(got) is bool or type(want) is bool:
            if type(got) is not type(want):
                return False
        elif isinstance(want, bytes | bytearray) != isinstance(got, bytes | bytearray):
            return False
        if not values_equal(got, want):
            return False
    return True


def folds(n: int, max_folds: int = MAX_FOLDS) -> list[list[int]]:
    """Held-out index sets: one per example up to ``max_folds``, round-robin above; none below 2."""
    if n < 2:
        return []
    k = min(n, max_folds)
    return [list(range(f, n, k)) for f in range(k)]


def refit(rule: Any, train: list[Pair]) -> Any | None:
    """The rule of ``rule``'s family with its parameters fitted on ``train`` only.

    Returns:
        The refitted rule, or ``None`` when ``train`` does not determine the parameters.
    """
    if isinstance(rule, ConstantRule):
        first = train[0][1]
        if all(values_equal(w, first) and type(w) is type(first) for _, w in train):
            return rule.model_copy(update={"value": first})
        return None
    if isinstance(rule, MapRule):
        mapping: dict[tuple[str, Any], Any] = {}
        for src, want in train:
            key = (type(src[rule.source]).__name__, src[rule.source])
            if mapping.setdefault(key, want) != want:
                return None
        return rule.model_copy(update={"mapping": [(k[1], w) for k, w in mapping.items()]})
    if isinstance(rule, LinearRule):
        xs = [src[rule.source] for src, _ in train]
        return _refit_line(rule, xs, [w for _, w in train], "scale", "offset")
    if isinstance(rule, DecodeRule) and rule.bit is None and _scaled(rule):
        try:
            raws = [
                read_scalar(bytes(src[rule.source]), rule.offset, rule.dtype, rule.layout)
                for src, _ in train
            ]
        except (IndexError, TypeError, ValueError):
            return None
        return _refit_line(rule, raws, [w for _, w in train], "scale", "value_offset")
    return rule  # no fitted parameters: the structure alone is the hypothesis


def _scaled(rule: DecodeRule) -> bool:
    return rule.scale != 1.0 or rule.value_offset != 0.0


def _refit_line(rule: Any, xs: list[Any], ys: list[Any], scale: str, offset: str) -> Any | None:
    if distinct_inputs(xs) < 2:
        return None  # one input value cannot tell a scale from an offset
    fitted_scale, fitted_offset = next(line_params(xs, ys))
    return rule.model_copy(update={scale: fitted_scale, offset: fitted_offset})


def holdout_score(rule: Any, pairs: list[Pair], max_folds: int = MAX_FOLDS) -> Holdout:
    """Refit ``rule`` without each fold and count the held-out examples it predicts."""
    passed = total = 0
    for held in folds(len(pairs), max_folds):
        skip = set(held)
        train = [p for i, p in enumerate(pairs) if i not in skip]
        fitted = refit(rule, train)
        for i in held:
            total += 1
            passed += fitted is not None and fits(fitted, [pairs[i]])
    return Holdout(passed=passed, total=total)
