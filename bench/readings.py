"""Which boundary reading, and which ``auto`` threshold: seen and unseen protocols side by side.

For a checkpoint with a boundary head, scores the ``crf`` and ``head`` readings and ``auto`` at
each threshold of :data:`accuracy_lofo.FALLBACK_GRID` (with the share of messages it hands to
the head) on

* the held-out capture files of the protocols it was trained on (``data/datasets/pcap/test.jsonl``),
  where falling back must cost nothing, and
* the five protocols reserved for evaluation (``bench/unseen_frames.py``, never trained on),
  where the head should help.

The leave-one-family-out runs (``bench/accuracy_lofo.py --head``) give the same comparison for
families held out of training. Run ``python bench/readings.py [--model PATH] [--threshold T]``;
``--threshold`` prints that column only.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy_lofo import FALLBACK_GRID, readings  # noqa: E402
from unseen_frames import UNSEEN_PROTOCOLS, unseen_frames  # noqa: E402
from unseen_protocols import load  # noqa: E402

from engine.detection.dataset import LabelledFrame, load_jsonl  # noqa: E402
from engine.detection.default_model import default_model_path  # noqa: E402

TEST = ROOT / "data/datasets/pcap/test.jsonl"


def groups(per_protocol: int, seed: int) -> dict[str, tuple[str, list[LabelledFrame]]]:
    """``protocol -> (seen | unseen, frames)``."""
    out: dict[str, tuple[str, list[LabelledFrame]]] = {}
    seen: dict[str, list[LabelledFrame]] = defaultdict(list)
    for frame in load_jsonl(TEST):
        seen[frame.protocol].append(frame)
    for proto in sorted(seen):
        out[proto] = ("seen", seen[proto])
    for proto in UNSEEN_PROTOCOLS:
        out[proto] = ("unseen", unseen_frames(proto, per_protocol, seed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--per-protocol", type=int, default=200, help="unseen messages each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, help="show auto at this threshold only")
    args = parser.parse_args()
    detector = load(args.model, "crf")
    grid = FALLBACK_GRID if args.threshold is None else (args.threshold,)
    taus = [str(t) for t in grid]
    head = ["protocol", "kind", "msgs", "crf", "head", *(f"auto {t}" for t in taus)]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    means: dict[str, list[list[float]]] = defaultdict(list)
    for proto, (kind, frames) in groups(args.per_protocol, args.seed).items():
        r = readings(detector, frames, grid)
        crf = r["crf"]["boundary_f1"]
        row = [crf, r["head"]["boundary_f1"]]
        cells = [f"{crf:.3f}", f"{r['head']['boundary_f1']:.3f}"]
        for t in taus:
            a = r["auto"][t]
            row.append(a["boundary_f1"])
            cells.append(f"{a['boundary_f1']:.3f} ({a['fallback_share']:.0%})")
        means[kind].append(row)
        print(f"| {proto} | {kind} | {len(frames)} | " + " | ".join(cells) + " |")
    for kind, rows in means.items():
        cols = [sum(c) / len(c) for c in zip(*rows, strict=True)]
        print(f"| **mean {kind}** | | | " + " | ".join(f"**{c:.3f}**" for c in cols) + " |")


if __name__ == "__main__":
    main()
