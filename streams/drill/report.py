"""What the rollback drill measured (:class:`DrillReport`) and the checks over it.

Pure data and functions, no I/O: :mod:`streams.drill.runner` fills the report, ``cronos control
drill`` prints it, and unit tests check the verdicts without a broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.control.state import HistoryEntry
from streams.drill.probe import Stamp

TO_PREVIOUS, BACK = "to-previous", "back"


@dataclass(frozen=True)
class Applied:
    """One worker's answer to one of the drill's swaps.

    Attributes:
        phase: :data:`TO_PREVIOUS` or :data:`BACK`.
        worker_id: The worker.
        outcome: ``applied`` or ``rejected``.
        reason: Why it was rejected.
        applied_ms: ``timings_ms.total`` as the worker measured it (verify → swap).
        wall_ms: From sending the command to reading the worker's event.
    """

    phase: str
    worker_id: str
    outcome: str
    reason: str | None
    applied_ms: float
    wall_ms: float


@dataclass
class DrillReport:
    """The drill's figures; :meth:`problems` says why it failed (empty: passed)."""

    component: str
    original: str
    previous: str
    run_id: str
    applied: list[Applied] = field(default_factory=list)
    missing_workers: dict[str, list[str]] = field(default_factory=dict)
    sent: int = 0
    results: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    lost: int = 0
    sequences: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    final_version: str | None = None
    errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def problems(self) -> list[str]:
        """Every reason the drill failed, in words."""
        out = list(self.errors)
        out += [
            f"{a.worker_id} {a.outcome} {a.phase}: {a.reason}"
            for a in self.applied
            if a.outcome != "applied"
        ]
        out += [
            f"no {phase} event from {', '.join(ids)}"
            for phase, ids in self.missing_workers.items()
            if ids
        ]
        for phase in (TO_PREVIOUS, BACK):
            if not any(a.phase == phase for a in self.applied):
                out.append(f"no worker answered {phase}")
        if self.lost:
            out.append(f"{self.lost} probe frames lost")
        expected = [self.original, self.previous, self.original]
        for part, seq in sorted(self.sequences.items()):
            if not is_subsequence([v for v, _ in seq], expected):
                out.append(f"partition {part} saw versions {' → '.join(v for v, _ in seq)}")
        if self.final_version != self.original:
            out.append(f"pointer ended on {self.final_version}, not {self.original}")
        return out

    @property
    def ok(self) -> bool:
        """True when nothing went wrong."""
        return not self.problems()


def previous_version(history: Sequence[HistoryEntry], current: str) -> str | None:
    """The newest applied version in ``history`` (newest first) other than ``current``."""
    for entry in history:
        if entry.outcome == "applied" and entry.to_version not in (None, current):
            return entry.to_version
    return None


def is_subsequence(seq: Sequence[str], of: Sequence[str]) -> bool:
    """True if ``seq`` is ``of`` with some items left out (order kept)."""
    it = iter(of)
    return all(any(x == y for y in it) for x in seq)


def partition_sequences(stamps: Sequence[Stamp]) -> dict[int, list[tuple[str, int]]]:
    """Per partition, in offset order: the versions that stamped results, with run lengths."""
    out: dict[int, list[tuple[str, int]]] = {}
    for s in sorted(stamps, key=lambda s: (s.partition, s.offset)):
        seq = out.setdefault(s.partition, [])
        if seq and seq[-1][0] == s.version:
            seq[-1] = (s.version, seq[-1][1] + 1)
        else:
            seq.append((s.version, 1))
    return out
