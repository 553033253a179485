"""Field accuracy of one detection against its labels (the guide's ``calculate_field_accuracy``).

Accuracy is the F1 of exact field spans ``(start, end, type)``: a field counts only if both its
boundaries and its type are right. Spans the detector reports as ``unknown`` (bytes it assigns
to no field) are not claims and are left out, the same rule the detector's own evaluation uses.
A frame with no labelled and no detected field scores 1.0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

UNKNOWN = "unknown"


def _span(item: Any) -> tuple[int, int, str]:
    # FieldBoundary, a (start, end, type) tuple, or a {"start", "end", "type"} dict.
    if hasattr(item, "start_pos"):
        return int(item.start_pos), int(item.end_pos), str(item.field_type)
    if isinstance(item, dict):
        return int(item["start"]), int(item["end"]), str(item["type"])
    start, end, kind = item[0], item[1], item[2]
    return int(start), int(end), str(kind)


def spans_of(items: Iterable[Any]) -> set[tuple[int, int, str]]:
    """The set of typed spans in ``items``, ``unknown`` ones dropped."""
    return {s for s in (_span(i) for i in items) if s[2] != UNKNOWN}


def calculate_field_accuracy(detected: Iterable[Any], expected: Iterable[Any]) -> float:
    """Span F1 of ``detected`` fields against ``expected`` ones, in [0, 1].

    Args:
        detected: ``FieldBoundary`` objects, ``(start, end, type)`` tuples or result dicts.
        expected: Labelled spans in the same forms.
    """
    got, want = spans_of(detected), spans_of(expected)
    if not got and not want:
        return 1.0
    hits = len(got & want)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(got), hits / len(want)
    return 2 * precision * recall / (precision + recall)


def agreement(a: Iterable[Any], b: Iterable[Any]) -> float:
    """How much two detections of one frame agree (span F1 of one against the other)."""
    return calculate_field_accuracy(a, b)
