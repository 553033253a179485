"""Train the shipped default field detector (``make model``).

Reads ``data/datasets/pcap/train.jsonl`` (labelled from the captures in ``data/captures`` by
``make dataset``), takes a seeded sample of at most 800 messages and 100 kB per protocol (CPU
budget; long DHCP/SMB messages would dominate), keeps 10 % of it for early stopping, and writes
``models/field_detector/field_detector_v1.0.0_latest.pt`` with its ``.sha256`` sidecar and a
``training.json`` record (history, time, sizes). The held-out files in ``test.jsonl`` are never
seen here; ``bench/accuracy.py`` scores them.

``--synthetic-modbus N`` (default 400) adds N seeded synthetic Modbus/TCP frames labelled by the
same policy as the captures (``engine.datasets.synthetic.modbus_pcap_style``) to the training
part only (not to the early-stopping sample, never to the test set): the training captures hold
almost no read-holding-registers (FC 3) traffic, the most common Modbus exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core.config import Config, DetectorSettings  # noqa: E402
from engine.datasets.split import sample_per_protocol  # noqa: E402
from engine.datasets.synthetic import modbus_pcap_style  # noqa: E402
from engine.detection.dataset import load_jsonl  # noqa: E402
from engine.detection.default_model import DEFAULT_MODEL_PATH  # noqa: E402
from engine.detection.field_detector import FieldDetector  # noqa: E402

TRAIN = ROOT / "data/datasets/pcap/train.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--lr", type=float, default=8e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=ROOT / DEFAULT_MODEL_PATH)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-messages", type=int, default=800, help="per protocol")
    parser.add_argument("--max-bytes", type=int, default=100_000, help="per protocol")
    parser.add_argument(
        "--synthetic-modbus",
        type=int,
        default=400,
        metavar="N",
        help="synthetic Modbus/TCP frames (pcap labelling policy) added to the training part",
    )
    parser.add_argument("--synthetic-seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frames = sample_per_protocol(
        load_jsonl(TRAIN), max_messages=args.max_messages, max_bytes=args.max_bytes
    )
    n_val = max(1, len(frames) // 10)
    val, train = frames[:n_val], frames[n_val:]
    synthetic = modbus_pcap_style(args.synthetic_modbus, seed=args.synthetic_seed)
    train = train + synthetic
    detector = FieldDetector(Config(detector=DetectorSettings(device="cpu")))
    t0 = time.perf_counter()

    def on_epoch(epoch: int, result, improved: bool) -> None:  # type: ignore[no-untyped-def]
        print(
            f"epoch {epoch}: loss {result.train_loss:.4f} val boundary F1 "
            f"{result.val['boundary_f1']:.4f} field F1 {result.val['f1']:.4f} "
            f"({result.seconds:.0f} s){' *' if improved else ''}",
            flush=True,
        )

    history = detector.train(
        train,
        val,
        num_epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        early_stopping_patience=args.patience,
        on_epoch=on_epoch,
    )
    seconds = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Ship weights only: Adam's moments would triple the file and are useless for inference.
    detector._optimizer_state = None
    detector._scheduler_state = None
    asyncio.run(detector.save_model(args.out))
    assert detector.model is not None
    record = {
        "train_messages": len(train),
        "train_per_protocol": dict(Counter(f.protocol for f in train)),
        "synthetic_modbus": {
            "messages": len(synthetic),
            "seed": args.synthetic_seed,
            "generator": "engine.datasets.synthetic.modbus_pcap_style",
            "note": "included in train_messages and train_per_protocol['modbus']; "
            "not in the validation sample or the test set",
        },
        "val_messages": len(val),
        "train_seconds": round(seconds, 1),
        "threads": args.threads,
        "parameters": sum(p.numel() for p in detector.model.parameters()),
        "field_types": detector.field_types,
        "summary": {k: v for k, v in history["summary"].items() if k != "checkpoints"},
        "val_boundary_f1": history["val_boundary_f1"],
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (args.out.parent / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"saved {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {seconds:.0f} s")


if __name__ == "__main__":
    main()
