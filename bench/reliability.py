"""Run the reliability suite and print its figures as a table (``make reliability``).

Usage: ``python bench/reliability.py [--scale full|ci] [pytest args...]``. The scenarios in
tests/reliability/ append one JSON row each to the file named by ``CRONOS_RELIABILITY_FIGURES``;
this script points that at a temporary file, runs pytest on the suite at the chosen scale
(default ``full``: 20 kills, 10 s outages, 20 swaps, 100,000 fuzz frames), and prints the rows.
The exit status is pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = (
    "scenario",
    "published",
    "results",
    "dead_letters",
    "duplicates",
    "lost",
    "recovery_s",
    "pass",
)


def table(rows: list[dict[str, object]]) -> str:
    """A plain-text table of ``rows`` (columns as in :data:`COLUMNS`, then notes)."""
    cells = [[("-" if r.get(c) is None else str(r.get(c))) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    line = "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    notes = [f"  {r['scenario']}: {r['note']}" for r in rows if r.get("note")]
    return "\n".join(out + (["", "notes:", *notes] if notes else []))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("full", "ci"), default="full")
    args, pytest_args = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.jsonl"
        env = os.environ | {
            "CRONOS_RELIABILITY_SCALE": args.scale,
            "CRONOS_RELIABILITY_FIGURES": str(figures),
        }
        start = time.monotonic()
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "tests/reliability",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=3000",
            *pytest_args,
        ]
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        took = time.monotonic() - start
        rows = (
            [json.loads(line) for line in figures.read_text().splitlines()]
            if (figures.exists())
            else []
        )
    print(f"\nreliability figures (scale {args.scale}, {took:.0f} s, pytest exit {code})\n")
    print(table(rows))
    return code


if __name__ == "__main__":
    sys.exit(main())
