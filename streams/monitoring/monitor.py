"""The monitor loop: sliding-window checks of the active versions and automatic rollback.

Every ``check_interval_s`` each worker reads, for every component it runs, the active version's
window of the last ``window_s`` seconds (summed over all replicas) and checks it against the
thresholds. A figure counts only with at least ``min_samples`` behind it (frames, or validated
frames for accuracy). After ``hysteresis`` consecutive breached checks the worker tries to take
the Redis lock ``auto_rollback:{component}`` whose TTL is the cool-down: exactly one replica
gets it and issues a signed ``emergency_rollback`` to the known-good version onto the control
topic, so the normal control path applies it to every worker and records it in the history.
The lock is never released: its expiry *is* the cool-down, shared by all replicas.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from engine.monitoring.thresholds import (
    DETECTOR,
    TRANSLATION,
    Breach,
    detector_breaches,
    translation_breaches,
)
from streams.control.command import new_command
from streams.control.state import VersionStore
from streams.monitoring import worker_metrics as metrics
from streams.monitoring.recorder import rules_component
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.windows import Figures, MetricWindows
from streams.worker.registry import ModelRegistry

log = logging.getLogger(__name__)
Publish = Callable[[bytes], Awaitable[None]]


@dataclass
class Check:
    """Result of one check of one component: the window, its breaches, what was done."""

    component: str
    pair: str | None
    version: str
    figures: Figures
    breaches: list[Breach] = field(default_factory=list)
    streak: int = 0
    action: str = "none"  # none | breached | rollback_issued | no_known_good | locked


@dataclass
class _State:
    version: str | None = None
    streak: int = 0


def window_figures(figs: Figures, window_s: float) -> dict[str, float]:
    """The figures put into a rollback command (only the defined ones)."""
    raw = {"window_s": window_s, **figs.to_dict()}
    return {k: round(float(v), 6) for k, v in raw.items() if isinstance(v, int | float)}


class Monitor:
    """Checks the active versions and rolls back sustained breaches.

    Args:
        worker_id: Names the issuer (``monitor@{worker_id}``).
        settings: Thresholds, window, minimum samples, hysteresis, cool-down.
        windows: Redis metric windows.
        store: Version state (known-good, pointers, locks).
        registry: What this worker runs.
        key: HMAC key that signs the commands.
        publish: Sends a command's bytes to the control topic (waits for the broker's ack).
        pairs: Protocol pairs whose rule sets are checked.
    """

    def __init__(
        self,
        *,
        worker_id: str,
        settings: MonitorSettings,
        windows: MetricWindows,
        store: VersionStore,
        registry: ModelRegistry,
        key: bytes,
        publish: Publish,
        pairs: Iterable[str] = (),
    ) -> None:
        self.worker_id = worker_id
        self.settings = settings
        self.thresholds = settings.thresholds()
        self.windows = windows
        self.store = store
        self.registry = registry
        self._key = key
        self._publish = publish
        self.targets: list[tuple[str, str | None]] = [(DETECTOR, None)]
        self.targets += [(TRANSLATION, p) for p in sorted(pairs)]
        self._state: dict[tuple[str, str | None], _State] = {}
        self.last: dict[str, Check] = {}

    async def run(self) -> None:
        """Check every ``check_interval_s`` until cancelled; errors are logged, not fatal."""
        await self.registry.detector_ready.wait()
        while True:
            await asyncio.sleep(self.settings.check_interval_s)
            try:
                await self.check_all()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("monitor check failed: %r", exc)

    async def check_all(self) -> list[Check]:
        """One round over every monitored component."""
        out = []
        for component, pair in self.targets:
            check = await self.check(component, pair)
            if check is not None:
                self.last[check.component if pair is None else f"{component}:{pair}"] = check
                out.append(check)
        return out

    def _breaches(self, component: str, figs: Figures) -> list[Breach]:
        enough = figs.count >= self.settings.min_samples
        validated = figs.accuracy_n >= self.settings.min_samples
        if component == DETECTOR:
            return detector_breaches(
                self.thresholds,
                figs.avg_latency_ms() if enough else None,
                figs.avg_accuracy() if validated else None,
            )
        return translation_breaches(
            self.thresholds,
            figs.success_rate() if enough else None,
            figs.avg_latency_ms() if enough else None,
        )

    async def check(self, component: str, pair: str | None) -> Check | None:
        """Check one component's active version; maybe issue a rollback."""
        active = self.registry.current(component, pair)
        if active is None:
            return None
        name = component if pair is None else rules_component(pair)
        figs = await self.windows.read(name, active.version, self.settings.window_s)
        state = self._state.setdefault((component, pair), _State())
        if state.version != active.version:
            state.version, state.streak = active.version, 0  # a new version starts clean
        check = Check(component, pair, active.version, figs, self._breaches(component, figs))
        if not check.breaches:
            state.streak = 0
            return check
        state.streak += 1
        check.streak, check.action = state.streak, "breached"
        for b in check.breaches:
            metrics.MONITOR_BREACHES.labels(name, active.version, b.metric).inc()
        if state.streak >= self.settings.hysteresis and self.settings.auto_rollback:
            check.action = await self._roll_back(check, name)
        return check

    async def _roll_back(self, check: Check, name: str) -> str:
        good = await self.store.get_known_good(check.component, check.pair)
        if good is None or good.version == check.version:
            log.error(
                "%s %s is degraded and there is no other known-good version", name, check.version
            )
            return "no_known_good"
        pointer = await self.store.get_active(check.component, check.pair)
        if pointer is None or pointer.version != check.version:
            return "none"  # the deployment already moved on; this worker will reconcile
        token = await self.store.acquire_lock(f"auto_rollback:{name}", self.settings.cooldown_s)
        if token is None:
            return "locked"  # another replica issued it, or the cool-down is running
        figures = window_figures(check.figures, self.settings.window_s)
        breaches = "; ".join(b.describe() for b in check.breaches)
        shown = " ".join(f"{k}={v:g}" for k, v in sorted(figures.items()))
        reason = f"auto-rollback of {check.version}: {breaches} [{shown}]"[:1000]
        target: dict[str, object] = {"version": good.version, "reason": reason, "figures": figures}
        if check.pair is not None:
            target["pair"] = check.pair
        cmd, raw = new_command(
            "emergency_rollback", check.component, target, f"monitor@{self.worker_id}", self._key
        )
        await self._publish(raw)
        metrics.AUTO_ROLLBACKS.labels(name, check.version, good.version).inc()
        log.warning("issued emergency_rollback %s: %s", cmd.id, reason)
        self._state[(check.component, check.pair)].streak = 0
        return "rollback_issued"
