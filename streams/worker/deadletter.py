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
    # A result or translated frame over max_record_bytes (never sent: the broker would refuse it).
    "oversized_output": "publish",
}
ERROR_HEADERS: Final = frozenset({"error", "detail", "stage"})
MAX_DETAIL_BYTES: Final = 1024
#: Headers a stub keeps from the original (each cut to :data:`STUB_HEADER_BYTES`).
STUB_KEEPS: Final = ("frame-id", "source", "protocol")
STUB_HEADER_BYTES: Final = 256


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

    def stub_headers(self) -> Headers:
        """Headers of a dead letter too large to carry the frame: where it is, how big, why.

        The stub has no value; ``truncated: 1`` marks it, and ``original-topic``,
        ``original-partition`` and ``original-offset`` say where the whole frame still is.
        """
        f = self.frame
        kept = [(k, v[:STUB_HEADER_BYTES]) for k, v in f.headers if k in STUB_KEEPS]
        header_bytes = sum(len(k.encode()) + len(v) for k, v in f.headers)
        detail = self.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]
        return [
            *kept,
            ("error", self.reason.encode()),
            ("detail", detail),
            ("stage", self.stage.encode()),
            ("truncated", b"1"),
            ("original-topic", f.topic.encode()),
            ("original-partition", str(f.partition).encode()),
            ("original-offset", str(f.offset).encode()),
            ("original-bytes", str(len(f.value or b"")).encode()),
            ("original-header-bytes", str(header_bytes).encode()),
        ]
