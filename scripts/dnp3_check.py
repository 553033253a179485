"""How often the generated DNP3 frames' labels agree with the repo's tshark labeller.

    python scripts/dnp3_check.py -n 1000 --seed 0

Generates ``n`` frames (``engine.datasets.dnp3_frames``), writes them to a pcap as TCP port
20000 payloads, labels it with ``engine.datasets.pcap_import.import_capture`` and prints
labelled / exact span agreement / boundary F1 / byte type agreement overall and per shape
(``engine.datasets.dnp3_check``), then the first differing frames. Needs tshark.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.datasets.dnp3_check import check_frames  # noqa: E402
from engine.datasets.dnp3_frames import DNP3_SHAPES, dnp3_frames  # noqa: E402
from engine.datasets.scapy_check import Agreement, compare  # noqa: E402
from engine.detection.dataset import LabelledFrame  # noqa: E402


def _spans(frame: LabelledFrame) -> str:
    return " ".join(f"{frame.message[s:e].hex()}:{t}" for s, e, t in frame.spans)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the figures; returns 1 below ``--min-exact``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=5, help="differing frames to print")
    ap.add_argument("--min-exact", type=float, default=0.99)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    frames = dnp3_frames(args.n, args.seed)
    generated = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        total, differ = check_frames(frames, tmp)
    checked = time.perf_counter() - t0 - generated
    shape_of = {f.message: DNP3_SHAPES[i % len(DNP3_SHAPES)] for i, f in enumerate(frames)}
    per_shape: dict[str, Agreement] = {}
    for mine, theirs in differ:
        compare(mine, theirs, per_shape.setdefault(shape_of[mine.message], Agreement("")))
    print(
        f"{total.labelled}/{total.samples} labelled by tshark, exact {total.exact_rate:.4f}, "
        f"boundary F1 {total.f1:.4f}, type agree {total.type_agree:.4f}, "
        f"not compared {dict(total.skipped) or 0}"
    )
    print(f"generated in {generated:.2f} s, tshark + labelling {checked:.1f} s")
    for shape, a in sorted(per_shape.items()):
        print(f"  differing {shape}: {a.labelled} frames, boundary F1 {a.f1:.3f}")
    for mine, theirs in differ[: args.show]:
        print(f"{shape_of[mine.message]}\n  ours   {_spans(mine)}\n  tshark {_spans(theirs)}")
    return 0 if total.exact_rate >= args.min_exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
