"""Applying verified control commands, and reconciling a worker to the Redis pointer.

Per command, on every worker: verify (signature, freshness) → per-worker idempotency guard
``seen:{worker_id}:{command_id}`` → fleet-wide order: refuse a command that moved a pointer
before and was superseded (``applied:{id}``, reason ``replayed``) or that is not newer than the
command that set the pointer (``out_of_order``) → pick the version (the command's, the previous
one in the history, or known-good) → resolve the artifact and check its sha256 against its
sidecar, against the ``sha256`` the command carries (swap, promote) and against the sha256
recorded when that version was applied (rollbacks) → load a fresh model beside the running one
→ validate it (skipped for ``emergency_rollback``) → compare-and-set a sealed pointer → swap
locally only if the pointer now carries this command.

A global ``seen:{id}`` guard would let only the first of N replicas apply a command; keyed per
worker, each replica applies it once and the CAS (which ignores a command already applied)
changes the pointer once. Order is what stops a replay on a *new* replica: its per-worker key
is fresh, but the command is older than the pointer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.detection.dataset import LabelledFrame
from engine.errors import EngineError
from streams.control.artifact_root import ArtifactRoot
from streams.control.command import ControlCommand, verify
from streams.control.events import ControlEvent, Stopwatch
from streams.control.pointer_seal import check_seal, seal
from streams.control.seeding import Seed, install_shipped_detector
from streams.control.settings import ControlSettings
from streams.control.state import HistoryEntry, VersionPointer, VersionStore, command_order
from streams.errors import CommandRejectedError, StateError
from streams.monitoring import worker_metrics as metrics
from streams.worker.registry import DETECTOR, Active, ModelRegistry, score_detector, warm_detector
from streams.worker.translator import load_rules, rules_accuracy
from streams.worker.translator import warm_up as warm_rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A loaded, verified artifact not yet active."""

    active: Active
    path: Path


class Activator:
    """Turns commands into swaps; see the module docstring for the steps.

    Args:
        worker_id: This replica's id.
        store: Redis version state.
        registry: The models this worker runs.
        root: Artifact root.
        control: Verification settings (key, freshness, replay TTL).
        warmup: Returns frames to warm candidates up with (recent live frames).
        validation_set: Labelled frames for the ``min_f1`` gate, if configured.
        rule_examples: Frame pairs for the ``min_accuracy`` gate of rule sets, if configured.
        promote_gate: ``(component, pair, version)`` → why a ``promote`` must be refused
            (e.g. the candidate did worse in shadow evaluation), or ``None``.
    """

    def __init__(
        self,
        *,
        worker_id: str,
        store: VersionStore,
        registry: ModelRegistry,
        root: ArtifactRoot,
        control: ControlSettings,
        warmup: Callable[[], Sequence[bytes]],
        validation_set: Sequence[LabelledFrame] | None = None,
        rule_examples: Sequence[dict[str, bytes]] | None = None,
        promote_gate: Callable[[str, str | None, str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.worker_id = worker_id
        self.store = store
        self.registry = registry
        self.root = root
        self.control = control
        self._key = control.hmac_key()
        self._warmup = warmup
        self._validation = list(validation_set or [])
        self._rule_examples = list(rule_examples or [])
        self._promote_gate = promote_gate

    async def handle(self, raw: bytes) -> ControlEvent:
        """Verify and apply one command message; never raises, always returns its event."""
        watch = Stopwatch()
        event = ControlEvent(self.worker_id, _id_of(raw), "unknown", None)
        try:
            cmd = verify(
                raw,
                self._key,
                now=datetime.now(UTC),
                max_age_s=self.control.control_max_age_s,
                max_future_s=self.control.control_max_future_s,
                max_bytes=self.control.control_max_bytes,
            )
            event.action, event.component = cmd.action, cmd.component
            event.pair = cmd.target.pair
            await self.store.claim_or_reject(
                f"{self.worker_id}:{cmd.id}", self.control.control_replay_ttl_s
            )
            watch.lap("verify")
            await self._apply(cmd, event, watch)
        except CommandRejectedError as exc:
            event.outcome, event.reason, event.detail = "rejected", exc.reason, exc.detail
        except Exception as exc:  # a bug or an outage must not kill the control loop
            log.exception("command %s failed", event.command_id)
            event.outcome, event.reason = "rejected", "internal_error"
            event.detail = f"{type(exc).__name__}: {exc}"
        event.timings_ms = watch.total()
        await self._record(event)
        return event

    async def _apply(self, cmd: ControlCommand, event: ControlEvent, watch: Stopwatch) -> None:
        component, pair = cmd.component, cmd.target.pair
        if cmd.action == "reload":
            await self.reconcile(component, pair)
            current = self.registry.current(component, pair)
            event.outcome = "applied"
            event.to_version = current.version if current else None
            return
        before = await self._get_active(component, pair)
        event.from_version = before.version if before else None
        await self._check_order(cmd, before)
        version = await self._target_version(cmd, before)
        event.to_version = version
        if cmd.action == "promote" and self._promote_gate is not None:
            refusal = await self._promote_gate(component, pair, version)
            if refusal is not None:
                raise CommandRejectedError("shadow_worse", refusal)
        watch.lap("resolve")
        expected = await self._expected_sha256(cmd, version)
        cand = await self._prepare(component, pair, version, str(cmd.id), watch, expected)
        if cmd.action != "emergency_rollback":
            await self._validate(component, cand, cmd.target.min_f1 or cmd.target.min_accuracy)
        watch.lap("validate")
        ptr = seal(
            VersionPointer(
                version,
                str(cand.path),
                cand.active.sha256,
                str(cmd.id),
                order=command_order(cmd.issued_at),
            ),
            self._key,
        )
        entry = HistoryEntry(
            cmd.action,
            event.from_version,
            version,
            str(cmd.id),
            cmd.issuer,
            "applied",
            cmd.target.reason,
            sha256=cand.active.sha256,
        )
        try:
            event.pointer_changed = await self.store.compare_and_set_active(
                component,
                pair,
                event.from_version,
                ptr,
                history=entry,
                applied_ttl_s=self.control.control_replay_ttl_s,
            )
            now = await self.store.get_active(component, pair)
        except StateError as exc:
            raise CommandRejectedError("redis_unavailable", str(exc)) from exc
        if now is None or now.command_id != str(cmd.id):
            # Another command moved the pointer while we validated: it is the truth.
            await self.reconcile(component, pair)
            raise CommandRejectedError("superseded", f"pointer now at {now and now.version}")
        self.registry.activate(component, pair, cand.active)
        if cmd.action == "promote":
            await self.store.mark_known_good(component, pair, now)
        event.outcome = "applied"
        watch.lap("swap")

    async def _check_order(self, cmd: ControlCommand, before: VersionPointer | None) -> None:
        """Refuse a command older than the pointer's, or one applied before and superseded."""
        if before is not None and before.command_id == str(cmd.id):
            return  # the command the pointer already carries: applying it again is a no-op
        try:
            applied = await self.store.was_applied(str(cmd.id))
        except StateError as exc:
            raise CommandRejectedError("redis_unavailable", str(exc)) from exc
        if applied:
            raise CommandRejectedError(
                "replayed", f"command {cmd.id} moved the pointer before and was superseded"
            )
        if before is not None and 0 < before.order >= command_order(cmd.issued_at):
            raise CommandRejectedError(
                "out_of_order",
                f"issued {cmd.issued_at.isoformat()}, not after the command that set "
                f"{before.version} ({before.command_id})",
            )

    async def _expected_sha256(self, cmd: ControlCommand, version: str) -> tuple[str, str] | None:
        """The sha256 the artifact must have, and where that requirement comes from."""
        if cmd.target.sha256 is not None:
            return cmd.target.sha256, "the command names"
        if cmd.action in ("swap", "promote"):
            if self.control.control_require_sha256:
                raise CommandRejectedError(
                    "checksum_missing", f"{cmd.action} carries no target.sha256"
                )
            return None
        # Rollbacks: the bytes must be those this version had when it was applied before.
        try:
            good = await self.store.get_known_good(cmd.component, cmd.target.pair)
            if good is not None and good.version == version:
                return good.sha256, f"recorded as known-good for {version}"
            history = await self.store.get_history(cmd.component, cmd.target.pair, limit=200)
        except StateError as exc:
            raise CommandRejectedError("redis_unavailable", str(exc)) from exc
        for e in history:
            if e.outcome == "applied" and e.to_version == version and e.sha256:
                return e.sha256, f"applied as {version} at {e.at.isoformat()}"
        return None

    async def _target_version(self, cmd: ControlCommand, before: VersionPointer | None) -> str:
        if cmd.action in ("swap", "promote") or cmd.target.version is not None:
            assert cmd.target.version is not None
            return cmd.target.version
        if cmd.action == "emergency_rollback":
            good = await self.store.get_known_good(cmd.component, cmd.target.pair)
            if good is None:
                raise CommandRejectedError("no_known_good", "no known-good version recorded")
            return good.version
        steps = cmd.target.steps or 1
        versions = await self._applied_versions(cmd.component, cmd.target.pair, str(cmd.id))
        if before is not None and (not versions or versions[0] != before.version):
            versions.insert(0, before.version)
        if len(versions) <= steps:
            raise CommandRejectedError("no_history", f"{len(versions)} versions in history")
        return versions[steps]

    async def _applied_versions(self, component: str, pair: str | None, skip: str) -> list[str]:
        """Activated versions, newest first, consecutive repeats folded; ``skip``'s excluded.

        Entries of the command being applied are left out so every replica computes the same
        target, whether it reads the history before or after another replica's CAS.
        """
        entries = await self.store.get_history(component, pair, limit=200)
        versions: list[str] = []
        for e in entries:
            if e.outcome != "applied" or e.command_id == skip or e.to_version is None:
                continue
            if not versions or versions[-1] != e.to_version:
                versions.append(e.to_version)
        return versions

    async def _prepare(
        self,
        component: str,
        pair: str | None,
        version: str,
        command_id: str,
        watch: Stopwatch,
        expected: tuple[str, str] | None = None,
    ) -> Candidate:
        path, sha = await asyncio.to_thread(self.root.resolve_verified, component, version, pair)
        # Before a byte is loaded: the artifact must be the one the operator signed for.
        if expected is not None and sha.lower() != expected[0].lower():
            raise CommandRejectedError(
                "checksum_mismatch", f"{path.name} is not the artifact {expected[1]}"
            )
        watch.lap("integrity")
        try:
            # The bytes loaded are the bytes hashed: the loaders re-hash what they read and
            # refuse anything but ``sha``, so a file swapped after the check is not loaded.
            if component == DETECTOR:
                model: Any = await self.registry.load_detector(path, sha)
            else:
                model = await asyncio.to_thread(load_rules, path, sha, pair=pair, version=version)
        except (EngineError, OSError) as exc:
            raise CommandRejectedError("load_failed", f"{path.name}: {exc}") from exc
        watch.lap("load")
        return Candidate(Active(model, version, sha, str(path), command_id), path)

    async def _validate(self, component: str, cand: Candidate, gate: float | None) -> None:
        frames = list(self._warmup())
        try:
            if component == DETECTOR:
                await asyncio.to_thread(warm_detector, cand.active.model, frames)
                if gate is not None:
                    if not self._validation:
                        raise CommandRejectedError("validation_failed", "no validation set")
                    f1 = await asyncio.to_thread(
                        score_detector, cand.active.model, self._validation
                    )
                    if f1 < gate:
                        raise CommandRejectedError("validation_failed", f"f1 {f1:.4f} < {gate}")
            else:
                await asyncio.to_thread(warm_rules, cand.active.model, frames)
                if gate is not None:
                    # Measured here, never read from the file: a file can claim anything.
                    if not self._rule_examples:
                        raise CommandRejectedError(
                            "validation_failed",
                            "no rules validation set (CRONOS_RULES_VALIDATION_SET) to measure "
                            "min_accuracy on",
                        )
                    accuracy = await asyncio.to_thread(
                        rules_accuracy, cand.active.model, self._rule_examples
                    )
                    if accuracy < gate:
                        raise CommandRejectedError(
                            "validation_failed",
                            f"accuracy {accuracy:.4f} < {gate} on "
                            f"{len(self._rule_examples)} validation pairs",
                        )
        except CommandRejectedError:
            raise
        except Exception as exc:
            raise CommandRejectedError("validation_failed", f"{type(exc).__name__}: {exc}") from exc

    async def reconcile(
        self,
        component: str = DETECTOR,
        pair: str | None = None,
        initial: str | Seed | None = None,
    ) -> ControlEvent | None:
        """Load whatever the pointer names, if this worker runs something else.

        With no pointer yet and an ``initial`` version (or :class:`Seed`), seed the pointer
        (CAS from "none", so one of N starting workers wins; the others load what it set) and
        mark it known-good. A seed of the shipped model is copied into the root first.

        Returns:
            An event (``action`` ``reconcile``) if anything changed or failed, else ``None``.
        """
        event = ControlEvent(self.worker_id, None, "reconcile", component, pair)
        watch = Stopwatch()
        try:
            ptr = await self._get_active(component, pair)
            if ptr is None and initial is not None:
                seed = Seed(initial) if isinstance(initial, str) else initial
                ptr = await self._seed(component, pair, seed)
            if ptr is not None:
                check_seal(ptr, self._key)
            current = self.registry.current(component, pair)
            if ptr is None or (
                current and (current.version, current.sha256) == (ptr.version, ptr.sha256)
            ):
                return None
            event.from_version = current.version if current else None
            event.to_version = ptr.version
            cand = await self._prepare(component, pair, ptr.version, ptr.command_id, watch)
            if cand.active.sha256 != ptr.sha256:
                raise CommandRejectedError("checksum_mismatch", "artifact differs from pointer")
            await self._validate(component, cand, None)
            self.registry.activate(component, pair, cand.active)
            event.outcome = "applied"
        except CommandRejectedError as exc:
            event.reason, event.detail = exc.reason, exc.detail
            log.error("reconcile of %s failed: %s", component, exc)
        event.timings_ms = watch.total()
        metrics.MODEL_SWAPS.labels(component, "reconcile", event.outcome).inc()
        return event

    async def _seed(self, component: str, pair: str | None, seed: Seed) -> VersionPointer | None:
        version = seed.version
        if seed.shipped and component == DETECTOR:
            path, sha = await asyncio.to_thread(install_shipped_detector, self.root)
        else:
            path, sha = await asyncio.to_thread(
                self.root.resolve_verified, component, version, pair
            )
        ptr = seal(VersionPointer(version, str(path), sha, f"bootstrap-{uuid.uuid4()}"), self._key)
        entry = HistoryEntry(
            "bootstrap",
            None,
            version,
            ptr.command_id,
            self.worker_id,
            "applied",
            "shipped default model" if seed.shipped else None,
            sha256=sha,
        )
        try:
            if await self.store.compare_and_set_active(component, pair, None, ptr, history=entry):
                await self.store.mark_known_good(component, pair, ptr)
            return await self.store.get_active(component, pair)
        except StateError as exc:
            raise CommandRejectedError("redis_unavailable", str(exc)) from exc

    async def _get_active(self, component: str, pair: str | None) -> VersionPointer | None:
        try:
            return await self.store.get_active(component, pair)
        except StateError as exc:
            raise CommandRejectedError("redis_unavailable", str(exc)) from exc

    async def _record(self, event: ControlEvent) -> None:
        metrics.MODEL_SWAPS.labels(event.component or "unknown", event.action, event.outcome).inc()
        if event.outcome == "applied" or event.component is None:
            return  # the applied entry went in with the CAS; unparsed commands have no history
        entry = HistoryEntry(
            event.action,
            event.from_version,
            event.to_version,
            event.command_id or "",
            self.worker_id,
            "rejected",
            event.reason,
        )
        try:
            await self.store.append_history(event.component, event.pair, entry)
        except (StateError, ValueError) as exc:
            log.warning("history not written: %s", exc)


def _id_of(raw: bytes) -> str | None:
    """Best-effort command id of a message that may fail verification (for --wait)."""
    try:
        import orjson

        data = orjson.loads(raw)
    except Exception:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else None
