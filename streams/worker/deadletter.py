"""Dead letters: frames the worker could not turn into a result, kept whole for replay.

A dead letter is the original record (key, bytes, headers in order) plus three headers:
``error`` (a machine-readable reason from :data:`REASONS`), ``detail`` (human text, truncated)
and ``stage`` (where it failed). Earlier ``error``/``detail``/``stage`` headers, e.g. from a
replayed dead letter, are dropped so the new ones are unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from streams.worker.results import Frame, Headers

#: Reason → stage. Reasons label ``cronos_dead_letters_total``, so the set is closed.
REASONS: Final[dict[str, str]] = {
    "empty_frame": "validate",
    "oversized_frame": "validate",
    "invalid_frame": "validate",
    "bad_header": "decode",
    "detection_failed": "detect",
    "no_rules": "translate",
    "untranslatable": "translate",
    "serialisation_failed": "serialise",
}
ERROR_HEADERS: Final = frozenset({"error", "detail", "stage"})
MAX_DETAIL_BYTES: Final = 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why one frame went to the dead-letter topic.

    Attributes:
        frame: The original record.
        reason: One of :data:`REASONS`.
        detail: Human-readable explanation.
    """

    frame: Frame
    reason: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown dead-letter reason {self.reason!r}")

    @property
    def stage(self) -> str:
        """Processing stage that failed (validate, decode, detect, translate, serialise)."""
        return REASONS[self.reason]

    def headers(self) -> Headers:
        """Original headers (minus stale error headers) plus ``error``, ``detail``, ``stage``."""
        kept = [(k, v) for k, v in self.frame.headers if k not in ERROR_HEADERS]
        detail = self.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]
        return [
            *kept,
            ("error", self.reason.encode()),
            ("detail", detail),
            ("stage", self.stage.encode()),
        ]

    @property
    def value(self) -> bytes:
        """The original bytes (empty for a tombstone)."""
        return self.frame.value or b""
