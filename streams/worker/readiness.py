"""Whether a worker may take frames yet, and why not: for the frame agent, the log and /readyz.

A worker is ready once a detector is active *and* the rules of every configured route have been
reconciled once (loaded, or found absent): frames of a routed protocol taken before that would
be dead-lettered ``no_rules`` although their rules were about to load. Once ready it stays ready:
models are swapped, never removed.

The control loop says why it is still waiting (:meth:`Readiness.waiting`); the frame agent
blocks in :meth:`Readiness.wait`, which repeats that reason as a warning every few seconds, so a
worker that holds its partitions without processing them never does so silently.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

log = logging.getLogger(__name__)

#: Seconds between two "not taking frames yet" warnings.
WARN_EVERY_S: Final = 5.0
ROUTES_PENDING: Final = "rules of the configured routes not reconciled yet"


class Readiness:
    """A worker's readiness to take frames (one per model registry).

    ``why`` is shown on the open ``/readyz`` probe, so callers put fixed phrases and reason
    codes there; ``detail`` (file names, Redis errors) goes to the log only.
    """

    def __init__(self) -> None:
        self._ready = asyncio.Event()
        self._detector = False
        self._routes = False
        self._why = "the control loop has not reconciled the detector yet"
        self._detail = ""

    def waiting(self, why: str, detail: str = "") -> None:
        """Record why no detector is active yet (replaces the previous reason)."""
        self._why, self._detail = why, detail

    def detector_active(self) -> None:
        """A detector was activated."""
        self._detector = True
        self._update()

    def routes_reconciled(self) -> None:
        """The rules of every configured route were reconciled once."""
        self._routes = True
        self._update()

    def is_ready(self) -> bool:
        """True once frames may be taken."""
        return self._ready.is_set()

    def reason(self) -> str | None:
        """Why frames are not taken yet (safe to show on ``/readyz``), or ``None`` when ready."""
        if self._ready.is_set():
            return None
        if not self._detector:
            return f"no detector: {self._why}"
        return ROUTES_PENDING

    async def wait(self, warn_every_s: float = WARN_EVERY_S) -> None:
        """Return once ready; log a warning with the reason every ``warn_every_s`` until then."""
        while not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), warn_every_s)
            except TimeoutError:
                detail = f" ({self._detail})" if self._detail and not self._detector else ""
                log.warning("not taking frames yet: %s%s", self.reason(), detail)

    def _update(self) -> None:
        if self._detector and self._routes:
            self._ready.set()
