"""Deduplicate labelled messages by payload and split them by capture file.

A file is wholly train or wholly test, so a held-out score never sees a message of a capture it
was trained on. Payloads that occur in a test file are removed from every training file (the
NEMESYS ``*-1000`` traces are subsets of the ``*-10000`` ones), and repeats inside each side are
kept once.
"""

from __future__ import annotations

import fnmatch
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.detection.dataset import LabelledFrame
from engine.errors import DatasetError

Row = dict[str, Any]


@dataclass
class SplitResult:
    """Rows per side, with counts for the summary table.

    Attributes:
        train: Training rows.
        test: Held-out rows.
        test_sources: Capture files on the test side.
        duplicates: Rows dropped as repeats, per protocol.
        capped: Training rows dropped by the per-file cap, per protocol.
    """

    train: list[Row] = field(default_factory=list)
    test: list[Row] = field(default_factory=list)
    test_sources: set[str] = field(default_factory=set)
    duplicates: Counter[str] = field(default_factory=Counter)
    capped: Counter[str] = field(default_factory=Counter)


def _by_source(rows: Iterable[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if "source" not in row:
            raise DatasetError("split needs rows with a 'source' (capture file) key")
        out[str(row["source"])].append(row)
    return out


def auto_test_sources(files: dict[str, list[Row]], min_messages: int = 90) -> set[str]:
    """Per protocol with two or more files: the smallest file with ≥ ``min_messages`` rows."""
    per_proto: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for src, rows in files.items():
        per_proto[str(rows[0].get("protocol", ""))].append((len(rows), src))
    chosen = set()
    for sizes in per_proto.values():
        big = sorted(s for s in sizes if s[0] >= min_messages)
        if len(sizes) >= 2 and big:
            chosen.add(big[0][1])
    return chosen


def split_rows(
    rows: Iterable[Row],
    test_patterns: Sequence[str] = (),
    *,
    max_train_per_file: int | None = None,
    seed: int = 0,
) -> SplitResult:
    """Split rows into train and test by capture file.

    Args:
        rows: JSONL rows with ``frame_hex``, ``fields``, ``protocol`` and ``source``.
        test_patterns: Glob patterns on source file names for the test side; empty picks
            :func:`auto_test_sources`.
        max_train_per_file: Keep at most this many (randomly chosen) training rows per file.
        seed: Seed of that choice.

    Raises:
        DatasetError: a row lacks ``source``, or no file matches the test side.
    """
    files = _by_source(rows)
    if test_patterns:
        test_src = {s for s in files if any(fnmatch.fnmatch(s, p) for p in test_patterns)}
    else:
        test_src = auto_test_sources(files)
    if not test_src:
        raise DatasetError("no capture file on the test side")
    out = SplitResult(test_sources=test_src)
    seen: set[str] = set()
    for side, names in ((out.test, sorted(test_src)), (out.train, sorted(set(files) - test_src))):
        for src in names:
            kept = []
            for row in files[src]:
                key = row["frame_hex"]
                if key in seen:
                    out.duplicates[str(row.get("protocol", ""))] += 1
                    continue
                seen.add(key)
                kept.append(row)
            if side is out.train and max_train_per_file and len(kept) > max_train_per_file:
                proto = str(kept[0].get("protocol", ""))
                out.capped[proto] += len(kept) - max_train_per_file
                kept = random.Random(f"{seed}:{src}").sample(kept, max_train_per_file)
            side.extend(kept)
    return out


def sample_per_protocol(
    frames: Sequence[LabelledFrame],
    *,
    max_messages: int,
    max_bytes: int,
    seed: int = 0,
) -> list[LabelledFrame]:
    """A seeded random subset with at most ``max_messages`` and ``max_bytes`` per protocol.

    Training cost on CPU grows with bytes (the LSTM walks every byte), and a few protocols
    with long messages (DHCP, SMB) would otherwise dominate both the time and the loss.
    """
    by_proto: dict[str, list[LabelledFrame]] = defaultdict(list)
    for f in frames:
        by_proto[f.protocol].append(f)
    rng = random.Random(seed)
    out: list[LabelledFrame] = []
    for proto in sorted(by_proto):
        pool = list(by_proto[proto])
        rng.shuffle(pool)
        used = 0
        for n, f in enumerate(pool):
            if n >= max_messages or used + len(f.message) > max_bytes:
                break
            used += len(f.message)
            out.append(f)
    rng.shuffle(out)
    return out
