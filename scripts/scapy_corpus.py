"""Write the scapy-generated corpus as JSON lines (issue 14: detector generalisation).

    python scripts/scapy_corpus.py -o data/datasets/scapy.jsonl --per-protocol 200 --seed 0

One row per message, in the format of ``data/datasets/pcap/train.jsonl``
(``frame_hex``, ``fields``, ``protocol``, ``source``); ``source`` is ``scapy:<protocol>:<seed>``
so ``cronos dataset split`` keeps a protocol's draws together. ``--protocol`` limits the
protocols (repeatable); S7comm, BACnet, IEC 60870-5-104, MQTT and CoAP are never generated
(``engine.datasets.scapy_corpus.DENYLIST``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.datasets.pcap_import import frame_row, write_rows  # noqa: E402
from engine.datasets.scapy_corpus import SCAPY_PROTOCOLS, scapy_frames  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate, write; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "data/datasets/scapy.jsonl")
    ap.add_argument("--per-protocol", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--protocol", action="append", choices=sorted(SCAPY_PROTOCOLS))
    args = ap.parse_args(argv)
    # scapy logs dissection guesses (EtherCAT padding) at ERROR level; they are not failures.
    logging.getLogger("scapy").setLevel(logging.CRITICAL)
    rows = []
    for name in args.protocol or list(SCAPY_PROTOCOLS):
        source = f"scapy:{name}:{args.seed}"
        rows += [frame_row(f, source) for f in scapy_frames(name, args.per_protocol, args.seed)]
    n = write_rows(rows, args.output)
    print(f"{n} messages of {len(args.protocol or SCAPY_PROTOCOLS)} protocols -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
