"""Per-task logging context: frame id, component, version and command id.

A stream agent wraps each frame (a control consumer each command) in :func:`log_context`; every
log record emitted inside carries those fields, through a ``contextvars`` variable, so concurrent
asyncio tasks never see each other's values. The JSON formatter of ``workers.logging_setup``
reads them with :func:`current_context`::

    with log_context(frame_id="raw-0-42", component="field_detector", version="1.2.0"):
        fields = detector.detect_boundaries_batch([frame])
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

CONTEXT_FIELDS = ("frame_id", "component", "version", "command_id")

_context: ContextVar[dict[str, Any] | None] = ContextVar("cronos_log_context", default=None)


def current_context() -> dict[str, Any]:
    """The fields set by the enclosing :func:`log_context` blocks (a copy)."""
    return dict(_context.get() or {})


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every log record emitted inside the block (``None`` values are skipped).

    Raises:
        ValueError: a field name other than ``frame_id``, ``component``, ``version`` or
            ``command_id``.
    """
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    merged = current_context() | {k: v for k, v in fields.items() if v is not None}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)
