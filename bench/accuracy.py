"""Accuracy benchmark: the default detector, leave-one-protocol-out and NEMESYS, per protocol.

Run ``make bench`` (or ``python bench/accuracy.py``). Scores are on the held-out capture files
of ``data/datasets/pcap/test.jsonl`` (``cronos dataset split``: no file on both sides, payloads
deduplicated). Columns:

* *model*: the shipped default model (trained on every protocol's training files);
* *LOPO*: a model trained on all other protocols (cached results of ``bench/accuracy_lopo.py``;
  ``--lopo run`` retrains, ~minutes per protocol on 2 CPU cores); *LOPO-B*: the same with
  boundary-only labels (one field type), which carry no protocol-specific type sequences;
* *NEMESYS*: the unsupervised baseline in ``bench/nemesys.py`` (sigma 0.6).

Boundary scores count cut positions > 0, types ignored; "field F1" needs the exact typed span;
"span F1" the exact ``(start, end)`` pair, types ignored (comparable between all three).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy_lopo import RESULTS, run_one, spans_of  # noqa: E402
from accuracy_scoring import boundary_score_long_ignored, cut_errors, score  # noqa: E402
from nemesys import nemesys_spans  # noqa: E402

from engine.core.config import Config, DetectorSettings  # noqa: E402
from engine.detection.dataset import LabelledFrame, load_jsonl  # noqa: E402
from engine.detection.default_model import load_default_detector  # noqa: E402
from engine.detection.field_detector import FieldDetector  # noqa: E402

TEST = ROOT / "data/datasets/pcap/test.jsonl"
PREAMBLE = """# Field detection accuracy on held-out capture files

Written by `bench/accuracy.py`. Test set: `data/datasets/pcap/test.jsonl` (whole capture files
never seen in training, payloads deduplicated; real capture files only). *model*: the shipped
default model (training captures + synthetic Modbus frames, see its data card).
*LOPO*: trained on the other six protocols (typed labels); *LOPO-B*: the same with boundary-only
labels. *NEMESYS*: unsupervised baseline (`bench/nemesys.py`, sigma 0.6). P/R/F1 are boundary
scores (cut positions > 0, types ignored); *≥16B-ign.*: the model's F1 with predicted cuts
inside labelled fields of ≥ 16 bytes not counted; field F1 = exact typed span; span F1 = exact
`(start, end)`, types ignored. The mean row is the unweighted mean over protocols. The LOPO
columns are cached from an earlier model (`bench/results/lopo/`); their DNP3 row was scored on
the DNP3 labels before the chunk fix (`docs/datasets.md`).

"""
OUT = ROOT / "bench/results/accuracy.md"


def _lopo(protocol: str, mode: str, untyped: bool = False) -> dict | None:
    path = RESULTS / (f"{protocol}_boundary.json" if untyped else f"{protocol}.json")
    if mode == "run":
        return run_one(protocol, cap=800, max_bytes=60_000, epochs=12, untyped=untyped)
    if mode == "cached" and path.is_file():
        return json.loads(path.read_text())
    return None


def _row(proto: str, n: int, m: dict, lo: dict | None, lob: dict | None, ne: dict) -> list[str]:
    f = "{:.3f}".format
    keys = ("boundary_precision", "boundary_recall", "boundary_f1")
    lopo = [f(lo[k]) for k in keys] if lo else ["–"] * 3
    lopo_b = [f(lob[k]) for k in keys] if lob else ["–"] * 3
    return [
        proto,
        str(n),
        f(m["boundary_precision"]),
        f(m["boundary_recall"]),
        f(m["boundary_f1"]),
        f(m["long_ignored_boundary_f1"]),
        f(m["field_f1"]),
        f(m["span_f1"]),
        *lopo,
        *lopo_b,
        f(ne["boundary_precision"]),
        f(ne["boundary_recall"]),
        f(ne["boundary_f1"]),
        f(ne["span_f1"]),
    ]


HEADER = [
    "protocol",
    "test msgs",
    "model P",
    "model R",
    "model F1",
    "model F1 ≥16B-ign.",
    "field F1",
    "span F1",
    "LOPO P",
    "LOPO R",
    "LOPO F1",
    "LOPO-B P",
    "LOPO-B R",
    "LOPO-B F1",
    "NEMESYS P",
    "NEMESYS R",
    "NEMESYS F1",
    "NEMESYS span F1",
]


def _mean(results: list[dict | None]) -> dict | None:
    """Unweighted mean over protocols; ``None`` unless every protocol has a result."""
    if not results or any(r is None for r in results):
        return None
    keys = ("boundary_precision", "boundary_recall", "boundary_f1", "span_f1")
    return {k: sum(r[k] for r in results if r) / len(results) for k in keys}


def build_table(
    lopo_mode: str, model: Path | None = None, reading: str | None = None
) -> tuple[str, dict]:
    """The markdown table and the raw numbers (``reading``: the boundary reading, if given)."""
    by_proto: dict[str, list[LabelledFrame]] = defaultdict(list)
    for frame in load_jsonl(TEST):
        by_proto[frame.protocol].append(frame)
    settings = DetectorSettings()
    if reading is not None:
        settings = settings.model_copy(update={"boundary_reading": reading})
    config = Config(detector=settings)
    if model is None:
        detector = asyncio.run(load_default_detector(config))
    else:
        detector = FieldDetector(config)
        asyncio.run(detector.load_checkpoint(model))
    rows: list[list[str]] = []
    raw: dict[str, dict[str, Any]] = {}
    errors: dict[str, dict[str, list[tuple[str, int]]]] = {}
    for proto in sorted(by_proto):
        frames = by_proto[proto]
        gold = [f.spans for f in frames]
        predicted = spans_of(detector, frames)
        model = score(predicted, gold)
        lenient = boundary_score_long_ignored(predicted, gold, 16)
        model["long_ignored_boundary_f1"] = lenient["boundary_f1"]
        errors[proto] = cut_errors(predicted, gold, [proto] * len(frames), top=3)
        nemesys = score([nemesys_spans(f.message) for f in frames], gold)
        lopo = _lopo(proto, lopo_mode)
        lopo_b = _lopo(proto, lopo_mode, untyped=True)
        raw[proto] = {
            "model": model,
            "lopo": lopo,
            "lopo_boundary_only": lopo_b,
            "nemesys": nemesys,
            "n": len(frames),
        }
        rows.append(_row(proto, len(frames), model, lopo, lopo_b, nemesys))
    protos = sorted(raw)
    mean = {
        key: {k: sum(raw[p][key][k] for p in protos) / len(protos) for k in raw[protos[0]][key]}
        for key in ("model", "nemesys")
    }
    lopo_mean = {k: _mean([raw[p][k] for p in protos]) for k in ("lopo", "lopo_boundary_only")}
    n_all = sum(raw[p]["n"] for p in protos)
    rows.append(
        _row(
            "**mean**",
            n_all,
            mean["model"],
            lopo_mean["lopo"],
            lopo_mean["lopo_boundary_only"],
            mean["nemesys"],
        )
    )
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "## Commonest errors of the model", ""]
    for proto, e in errors.items():
        missed = "; ".join(f"{k} ×{n}" for k, n in e["missed"]) or "none"
        extra = "; ".join(f"{k} ×{n}" for k, n in e["extra"]) or "none"
        lines.append(f"* **{proto}** — missed: {missed}. Extra: {extra}.")
        raw[proto]["errors"] = e
    return "\n".join(lines) + "\n", raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lopo", choices=("cached", "run", "skip"), default="cached")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--model", type=Path, help="checkpoint to score (default: the shipped one)")
    parser.add_argument(
        "--reading", choices=("crf", "head", "auto"), help="boundary reading (default: settings)"
    )
    args = parser.parse_args()
    table, raw = build_table(args.lopo, args.model, args.reading)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(PREAMBLE + table)
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")


if __name__ == "__main__":
    main()
