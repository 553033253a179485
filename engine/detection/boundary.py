"""The detector's output type."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: A labelled field: ``(start, end, type)`` with ``end`` exclusive, offsets in bytes.
Span = tuple[int, int, str]


@dataclass(frozen=True, slots=True)
class FieldBoundary:
    """One detected field of a message.

    Attributes:
        start_pos: Offset of the field's first byte.
        end_pos: Offset one past the field's last byte (exclusive), so fields tile the message:
            each field's ``end_pos`` is the next field's ``start_pos``.
        field_type: Learned type name (``length``, ``function_code``, …); ``unknown`` for bytes
            the model assigns to no field.
        confidence: Mean CRF posterior marginal of the decoded tags over the field's bytes, in
            [0, 1].
    """

    start_pos: int
    end_pos: int
    field_type: str
    confidence: float

    @property
    def length(self) -> int:
        """Width of the field in bytes."""
        return self.end_pos - self.start_pos

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (``start``, ``end``, ``type``, ``confidence``) for JSON results."""
        d = asdict(self)
        return {
            "start": d["start_pos"],
            "end": d["end_pos"],
            "type": d["field_type"],
            "confidence": d["confidence"],
        }
