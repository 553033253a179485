"""Unseen-protocol benchmark: boundary F1 on the five protocols reserved for evaluation.

EVALUATION ONLY. S7comm, BACnet/IP, IEC 60870-5-104, MQTT and CoAP are never used for training;
their messages are generated here, in ``bench/`` (``bench/unseen_frames.py``,
``bench/unseen_struct.py``), so no training code in ``engine/`` can import them. Run
``python bench/unseen_protocols.py`` (``--per-protocol N`` messages each, default 200, seeded);
``--model PATH`` may be given several times to compare checkpoints side by side (each needs its
``.sha256`` sidecar; default: the shipped model). Scores are boundary precision/recall/F1 over
cut positions > 0, types ignored, per protocol and their unweighted mean, with the scoring code
of ``bench/accuracy.py``; NEMESYS (``bench/nemesys.py``, sigma 0.6) runs on the same messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy_lopo import spans_of  # noqa: E402
from accuracy_scoring import score  # noqa: E402
from nemesys import nemesys_spans  # noqa: E402
from unseen_frames import UNSEEN_PROTOCOLS, unseen_frames  # noqa: E402

from engine.core.config import Config, DetectorSettings  # noqa: E402
from engine.detection.default_model import default_model_path  # noqa: E402
from engine.detection.field_detector import FieldDetector  # noqa: E402

_KEYS = ("boundary_precision", "boundary_recall", "boundary_f1")


def load(path: Path, reading: str | None = None) -> FieldDetector:
    """A CPU detector with the checkpoint at ``path`` loaded (sidecar checksum verified).

    ``reading`` overrides the settings' ``boundary_reading`` (models with a boundary head).
    """
    settings = DetectorSettings(device="cpu")
    if reading is not None:
        settings = settings.model_copy(update={"boundary_reading": reading})
    detector = FieldDetector(Config(detector=settings))
    asyncio.run(detector.load_checkpoint(path))
    return detector


def _name(path: Path) -> str:
    """The model's column name: its path, relative to the repository where it lies inside."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def _boundary(s: dict[str, float]) -> dict[str, float]:
    return {k: s[k] for k in _KEYS}


def evaluate(
    models: list[Path], per_protocol: int, seed: int, readings: list[str] | None = None
) -> dict[str, Any]:
    """Scores per protocol and their unweighted mean, for NEMESYS and every model.

    With ``readings``, each model is scored in each reading (column ``name [reading]``).
    """
    if readings:
        detectors = {f"{_name(p)} [{r}]": load(p, r) for p in models for r in readings}
    else:
        detectors = {_name(p): load(p) for p in models}
    rows: dict[str, dict[str, Any]] = {}
    for proto in UNSEEN_PROTOCOLS:
        frames = unseen_frames(proto, per_protocol, seed)
        gold = [f.spans for f in frames]
        row: dict[str, Any] = {
            "messages": len(frames),
            "bytes": sum(len(f.message) for f in frames),
            "nemesys": _boundary(score([nemesys_spans(f.message) for f in frames], gold)),
        }
        row["models"] = {
            name: _boundary(score(spans_of(det, frames), gold)) for name, det in detectors.items()
        }
        rows[proto] = row

    def mean(pick: Any) -> dict[str, float]:
        return {k: sum(pick(r)[k] for r in rows.values()) / len(rows) for k in _KEYS}

    return {
        "per_protocol": per_protocol,
        "seed": seed,
        "protocols": rows,
        "mean": {
            "nemesys": mean(lambda r: r["nemesys"]),
            "models": {n: mean(lambda r, n=n: r["models"][n]) for n in detectors},
        },
    }


def table(result: dict[str, Any]) -> str:
    """The markdown table: protocol, messages, NEMESYS F1, then F1 (P/R) per model."""
    names = list(result["mean"]["models"])
    head = ["protocol", "messages", "NEMESYS F1", *(f"`{n}` F1 (P / R)" for n in names)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(s: dict[str, float]) -> str:
        return (
            f"{s['boundary_f1']:.3f} ({s['boundary_precision']:.3f} / {s['boundary_recall']:.3f})"
        )

    rows = [(p, str(r["messages"]), r) for p, r in result["protocols"].items()]
    total = sum(r["messages"] for r in result["protocols"].values())
    rows.append(("**mean**", str(total), result["mean"]))
    for proto, n, r in rows:
        models = [cell(r["models"][m]) for m in names]
        lines.append("| " + " | ".join([proto, n, f"{r['nemesys']['boundary_f1']:.3f}", *models]))
        lines[-1] += " |"
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model",
        type=Path,
        action="append",
        help="checkpoint to score (repeatable; default: the shipped model)",
    )
    parser.add_argument("--per-protocol", type=int, default=200, help="messages per protocol")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument(
        "--reading",
        action="append",
        choices=("crf", "head", "auto"),
        help="score each model in this boundary reading (repeatable; default: the setting's)",
    )
    args = parser.parse_args()
    models = args.model or [default_model_path()]
    result = evaluate(models, args.per_protocol, args.seed, args.reading)
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
