"""Scoring a rule set on examples: pass rate, error rate and latency.

An example is ``{'source': ..., 'expected_target': ...}`` where both sides are either parsed
values (dicts) or frames (bytes), or a :class:`~engine.translation.rules.TestCase`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from engine.errors import TranslationError
from engine.translation.evaluate import Translator
from engine.translation.rules import TestCase, TranslationRules


def values_equal(actual: Any, expected: Any) -> bool:
    """Equality with a relative tolerance of 1e-9 for floats (decimal scales such as 0.1)."""
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(actual, bool) or isinstance(expected, bool):
            return actual is expected
        if not isinstance(actual, int | float) or not isinstance(expected, int | float):
            return False
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, bytearray):
        expected = bytes(expected)
    return bool(actual == expected)


def as_pair(example: Any) -> tuple[Any, Any]:
    """``(source, expected_target)`` of one example in any accepted form."""
    if isinstance(example, TestCase):
        return example.source, example.expected_target
    if isinstance(example, Mapping) and "source" in example and "expected_target" in example:
        return example["source"], example["expected_target"]
    raise ValueError(
        "an example must be {'source': ..., 'expected_target': ...} or a TestCase, "
        f"got {type(example).__name__}"
    )


def run_example(translator: Translator, source: Any, expected: Any) -> bool:
    """Translate one example; True when the output equals ``expected``.

    Raises:
        TranslationError: The translation itself failed.
    """
    if isinstance(source, bytes | bytearray):
        produced = translator.translate(bytes(source))
        if isinstance(expected, bytes | bytearray):
            return produced == bytes(expected)
        target = translator.target_codec.parse(produced)
    else:
        target = translator.translate_values(source)
        # Building checks every value against its target field (width, type, length).
        translator.target_codec.build(target)
        if isinstance(expected, bytes | bytearray):
            return translator.target_codec.build(target) == bytes(expected)
    return all(values_equal(target.get(k), v) for k, v in expected.items())


def score(rules: TranslationRules, examples: Iterable[Any]) -> dict[str, Any]:
    """Score ``rules`` on ``examples``.

    Returns:
        ``pass_rate``, ``error_rate`` (share that raised), ``avg_latency_ms``,
        ``p95_latency_ms``, ``total``, ``passed``, ``errors`` and ``failures`` (up to 10
        ``{index, field, reason}`` entries).
    """
    translator = Translator(rules)
    latencies: list[float] = []
    passed = errors = 0
    failures: list[dict[str, Any]] = []
    for index, example in enumerate(examples):
        source, expected = as_pair(example)
        start = time.perf_counter()
        try:
            ok = run_example(translator, source, expected)
        except TranslationError as exc:
            ok = False
            errors += 1
            if len(failures) < 10:
                failures.append({"index": index, "field": exc.field, "reason": exc.reason})
        else:
            if not ok and len(failures) < 10:
                failures.append({"index": index, "field": None, "reason": "mismatch"})
        latencies.append((time.perf_counter() - start) * 1000.0)
        passed += ok
    total = len(latencies)
    return {
        "pass_rate": passed / total if total else 0.0,
        "error_rate": errors / total if total else 0.0,
        "avg_latency_ms": sum(latencies) / total if total else 0.0,
        "p95_latency_ms": percentile(latencies, 95.0),
        "total": total,
        "passed": passed,
        "errors": errors,
        "failures": failures,
    }


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no samples)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]
