"""How often the scapy corpus's spans agree with the tshark labeller (docs/datasets.md).

    python bench/scapy_vs_tshark.py --per-protocol 100 --seed 0

For every protocol of ``SCAPY_PROTOCOLS`` that Wireshark dissects, writes the generated frames to
a pcap, labels them with the repo's tshark labeller and prints labelled / exact span-set
agreement / boundary F1 / byte type agreement (``engine.datasets.scapy_check``). Needs tshark.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.datasets.scapy_check import Agreement, check_protocol  # noqa: E402
from engine.datasets.scapy_corpus import SCAPY_PROTOCOLS  # noqa: E402


def _row(a: Agreement, family: str, layer: str) -> str:
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(a.skipped.items())) or ""
    if a.prefix:
        skipped = (skipped + ", " if skipped else "") + f"prefix {a.prefix}"
    return (
        f"| {a.protocol} | {family} | `{layer}` | {a.labelled}/{a.samples} | {a.exact_rate:.2f} "
        f"| {a.f1:.3f} | {a.type_agree:.2f} | {skipped} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a Markdown table; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-protocol", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--protocol", action="append", choices=sorted(SCAPY_PROTOCOLS))
    args = ap.parse_args(argv)
    # scapy logs dissection guesses (EtherCAT padding) at ERROR level; they are not failures.
    logging.getLogger("scapy").setLevel(logging.CRITICAL)
    print("| protocol | family | tshark layer | labelled | exact | boundary F1 | type agree "
          "| not compared |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    total = Agreement("all")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.protocol or list(SCAPY_PROTOCOLS):
            spec = SCAPY_PROTOCOLS[name]
            if not spec.tshark:
                print(f"| {name} | {spec.family} | — | not dissected by Wireshark 4.0 "
                      "as sent | | | | |")  # fmt: skip
                continue
            a = check_protocol(name, args.per_protocol, args.seed, tmp)
            print(_row(a, spec.family, "+".join(spec.tshark)), flush=True)
            for k in ("samples", "labelled", "prefix", "exact", "tp", "fp", "fn"):
                setattr(total, k, getattr(total, k) + getattr(a, k))
            total.same_type_bytes += a.same_type_bytes
            total.bytes += a.bytes
    print(_row(total, "", "all"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
