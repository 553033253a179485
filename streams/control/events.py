"""Control events: what one worker did with one command (``cronos.control.events``).

Wire form (orjson, keyed by worker id)::

    {"worker_id": "w1", "command_id": "uuid" | null, "action": "swap", "component":
     "field_detector", "pair": null, "outcome": "applied" | "rejected", "reason": null | "...",
     "detail": "", "from_version": "1.0.0", "to_version": "1.1.0", "pointer_changed": true,
     "timings_ms": {"verify": 0.3, "resolve": 1.2, "load": 40.1, "validate": 12.0,
                    "total": 55.0}, "at": "2026-11-27T10:00:01.123Z"}

``command_id`` is null for a reconcile (no command) or a message too broken to carry an id.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from streams.control.command import format_utc


@dataclass
class ControlEvent:
    """One worker's outcome for one command (or for a reconcile)."""

    worker_id: str
    command_id: str | None
    action: str
    component: str | None
    pair: str | None = None
    outcome: str = "rejected"
    reason: str | None = None
    detail: str = ""
    from_version: str | None = None
    to_version: str | None = None
    pointer_changed: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> bytes:
        """Wire bytes."""
        data = asdict(self)
        data["at"] = format_utc(self.at)
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes) -> ControlEvent:
        """Parse wire bytes (as written by :meth:`to_json`)."""
        data: dict[str, Any] = orjson.loads(raw)
        data["at"] = datetime.fromisoformat(data["at"])
        return cls(**data)


class Stopwatch:
    """Named lap timings in milliseconds, for the ``timings_ms`` of an event."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Record the time since the previous lap under ``name``."""
        now = time.perf_counter()
        self.laps[name] = round((now - self._last) * 1000.0, 3)
        self._last = now

    def total(self) -> dict[str, float]:
        """The laps plus ``total`` since creation."""
        return {**self.laps, "total": round((time.perf_counter() - self._start) * 1000.0, 3)}
