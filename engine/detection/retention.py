"""Retention: which artifacts a prune may delete, and the delete step under the directory lock.

:func:`plan_prune` is pure: given the artifact list and what the caller protects (the active,
previous and last-known-good versions come from Redis in production; the CLI adds ``--protect``),
it keeps the newest ``keep_versions`` versions of each group (a group is one component, or one
protocol pair for rule sets) and every protected version or path, and marks the rest for
deletion. Over-protecting is always safe, so a protected version string protects that version in
every group. :func:`apply_prune` deletes the planned files with their sidecars while holding the
directory's exclusive lock, so no loader (which takes the shared lock) is mid-read.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.artifact_lock import exclusive_lock
from engine.artifacts import sidecar_path
from engine.detection import checkpoint_catalog as names
from engine.versioning import parse_version

log = logging.getLogger(__name__)

DEFAULT_KEEP_VERSIONS = 5
_LATEST = "_latest.pt"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One file a prune may consider.

    Attributes:
        path: The artifact (its ``.sha256`` sidecar goes with it).
        version: Semantic version.
        saved_at: When it was written (orders epochs within a version).
        group: ``field_detector`` or a protocol pair such as ``modbus->mqtt``.
        score: F1 or accuracy, for ``keep_epochs``; ``None`` for ``_latest`` files.
    """

    path: Path
    version: str
    saved_at: datetime
    group: str = names.PREFIX
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one artifact, and why."""

    artifact: Artifact
    delete: bool
    reason: str


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """Every considered artifact with its decision, newest version first."""

    decisions: tuple[Decision, ...]

    @property
    def delete(self) -> list[Artifact]:
        return [d.artifact for d in self.decisions if d.delete]

    @property
    def keep(self) -> list[Artifact]:
        return [d.artifact for d in self.decisions if not d.delete]


def _norm(path: str | Path) -> str:
    return os.path.realpath(path)


def plan_prune(
    artifacts: Iterable[Artifact],
    *,
    keep_versions: int = DEFAULT_KEEP_VERSIONS,
    protected_versions: Collection[str] = (),
    protected_paths: Collection[str | Path] = (),
    keep_epochs: int | None = None,
) -> PrunePlan:
    """Decide what to delete; touches no file.

    Args:
        artifacts: Candidates (see :func:`field_detector_artifacts`, :func:`rules_artifacts`).
        keep_versions: Newest versions kept per group, by semantic version (at least 1).
        protected_versions: Versions never deleted (active, previous, known good, ``--protect``).
        protected_paths: Files never deleted (e.g. the exact paths the Redis pointers name).
        keep_epochs: When set, a kept but unprotected version keeps only its ``_latest`` file and
            this many best-scoring epoch checkpoints. Protected versions keep every file.

    Raises:
        ValueError: ``keep_versions`` < 1 or ``keep_epochs`` < 1.
    """
    if keep_versions < 1:
        raise ValueError("keep_versions must be at least 1: the newest version is never pruned")
    if keep_epochs is not None and keep_epochs < 1:
        raise ValueError("keep_epochs must be at least 1")
    protected = set(protected_versions)
    pinned = {_norm(p) for p in protected_paths}
    groups: dict[str, dict[str, list[Artifact]]] = defaultdict(lambda: defaultdict(list))
    for a in artifacts:
        groups[a.group][a.version].append(a)
    decisions: list[Decision] = []
    for group in sorted(groups):
        by_version = groups[group]
        ordered = sorted(by_version, key=lambda v: parse_version(v).sort_key(), reverse=True)
        newest = set(ordered[:keep_versions])
        for version in ordered:
            files = sorted(by_version[version], key=lambda a: a.saved_at, reverse=True)
            best = _best_epochs(files, keep_epochs)
            for a in files:
                decisions.append(_decide(a, version, protected, pinned, newest, best))
    return PrunePlan(tuple(decisions))


def _best_epochs(files: list[Artifact], keep_epochs: int | None) -> set[Path]:
    if keep_epochs is None:
        return {a.path for a in files}
    scored = [a for a in files if a.score is not None]
    ranked = sorted(scored, key=lambda a: (a.score, a.saved_at), reverse=True)
    return {a.path for a in ranked[:keep_epochs]} | {a.path for a in files if a.score is None}


def _decide(
    a: Artifact,
    version: str,
    protected: set[str],
    pinned: set[str],
    newest: set[str],
    best: set[Path],
) -> Decision:
    if _norm(a.path) in pinned:
        return Decision(a, False, "protected file")
    if version in protected:
        return Decision(a, False, "protected version")
    if version not in newest:
        return Decision(a, True, "older than the newest versions kept")
    if a.path not in best:
        return Decision(a, True, "epoch beyond keep-epochs")
    return Decision(a, False, "within the newest versions kept")


def field_detector_artifacts(directory: str | Path) -> list[Artifact]:
    """Epoch checkpoints and ``_latest`` files in a checkpoint directory."""
    out = [
        Artifact(i.path, i.version, i.saved_at, names.PREFIX, i.f1)
        for i in names.list_checkpoints(directory)
    ]
    d = Path(directory)
    if d.is_dir():
        for p in d.glob(f"{names.PREFIX}_v*{_LATEST}"):
            version = p.name[len(names.PREFIX) + 2 : -len(_LATEST)]
            try:
                parse_version(version)
            except ValueError:
                continue  # never delete what we cannot name
            mtime = datetime.fromtimestamp(p.stat().st_mtime, UTC)
            out.append(Artifact(p, version, mtime, names.PREFIX, None))
    return out


def rules_artifacts(directory: str | Path) -> list[Artifact]:
    """Saved rule sets, grouped by protocol pair (unreadable files are left alone)."""
    from engine.translation.store import list_saved  # translation is optional for detection

    out = []
    for e in list_saved(directory):
        try:
            parse_version(e["version"])
            saved = datetime.fromisoformat(e["saved_at"])
        except ValueError:
            continue
        pair = f"{e['source_protocol']}->{e['target_protocol']}"
        out.append(Artifact(Path(e["path"]), e["version"], saved, pair, e["accuracy"]))
    return out


def apply_prune(
    plan: PrunePlan, directory: str | Path, *, lock_timeout_s: float = 10.0
) -> list[Path]:
    """Delete the planned files and their sidecars under the directory's exclusive lock.

    Returns:
        The artifact paths deleted (files already gone are skipped).

    Raises:
        ArtifactLockTimeoutError: loaders held the directory for longer than ``lock_timeout_s``.
    """
    deleted: list[Path] = []
    with exclusive_lock(directory, lock_timeout_s):
        for a in plan.delete:
            # Sidecar first: a crash in between leaves a file that refuses to load, never a
            # loadable file whose checksum is gone.
            sidecar_path(a.path).unlink(missing_ok=True)
            try:
                a.path.unlink()
            except FileNotFoundError:
                continue
            deleted.append(a.path)
            log.info("pruned %s", a.path.name, extra={"version": a.version})
    return deleted
