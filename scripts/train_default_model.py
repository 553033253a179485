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

The wide corpus of issue 14 is switched on piece by piece, each added to the training part
only (early stopping and every held-out score stay on real capture files):

* ``--max-messages 0 --max-bytes 0``: every deduplicated training message, not a sample;
* ``--modbus-balanced N``: every public Modbus function code, requests, responses and
  exceptions in equal numbers (``engine.datasets.modbus_balanced``);
* ``--dnp3-frames N``: DNP3 link frames of every common request and response shape, many of
  them several data chunks long, labelled as tshark labels the captures
  (``engine.datasets.dnp3_frames``; ``scripts/dnp3_check.py`` measures the agreement);
* ``--procedural N``: messages of random grammars of protocols that exist nowhere
  (``engine.datasets.procedural``), ``--procedural-per-grammar`` each;
* ``--extra FILE.jsonl``: any labelled JSONL, e.g. the scapy corpus.

A protocol reserved for evaluation (S7comm, BACnet, IEC 60870-5-104, MQTT, CoAP) anywhere in
the training part stops the run. ``--max-minutes`` ends training after the epoch that passes it
(the best epoch's weights are kept); ``--checkpoint-dir`` keeps every improving epoch's
checkpoint, so a long run in the background can be stopped and its best model used.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core.config import Config, DetectorSettings  # noqa: E402
from engine.datasets.dnp3_frames import dnp3_frames  # noqa: E402
from engine.datasets.modbus_balanced import modbus_balanced  # noqa: E402
from engine.datasets.procedural import procedural_frames  # noqa: E402
from engine.datasets.split import sample_per_protocol  # noqa: E402
from engine.datasets.synthetic import modbus_pcap_style  # noqa: E402
from engine.detection.dataset import load_jsonl  # noqa: E402
from engine.detection.default_model import DEFAULT_MODEL_PATH  # noqa: E402
from engine.detection.field_detector import FieldDetector  # noqa: E402

TRAIN = ROOT / "data/datasets/pcap/train.jsonl"
#: Held-out capture files: generated frames that equal one of their messages are dropped.
HELD_OUT = ROOT / "data/datasets/pcap/test.jsonl"
#: Never in training, from any source: the unseen-protocol evaluation depends on it.
RESERVED = ("s7", "bacnet", "iec104", "iec60870", "104apci", "mqtt", "coap")


class TimeBudgetSpent(Exception):
    """Raised from the epoch callback once ``--max-minutes`` have passed."""


def check_reserved(frames: list) -> None:  # type: ignore[type-arg]
    """Stop if a frame of a reserved protocol is in the training part."""
    bad = sorted({f.protocol for f in frames if any(r in f.protocol.lower() for r in RESERVED)})
    if bad:
        raise SystemExit(f"reserved for evaluation, never trained on: {bad}")


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
    parser.add_argument("--modbus-balanced", type=int, default=0, metavar="N")
    parser.add_argument("--dnp3-frames", type=int, default=0, metavar="N")
    parser.add_argument("--procedural", type=int, default=0, metavar="N")
    parser.add_argument("--procedural-per-grammar", type=int, default=20)
    parser.add_argument("--extra", type=Path, action="append", default=[], metavar="JSONL")
    parser.add_argument("--max-minutes", type=float, default=0, help="0: no time limit")
    parser.add_argument(
        "--oversample",
        action="append",
        default=[],
        metavar="PROTOCOL=K",
        help="repeat a protocol's captured training messages K times (e.g. dnp3=40)",
    )
    parser.add_argument("--init", type=Path, help="start from this checkpoint (fine-tuning)")
    parser.add_argument(
        "--boundary-head",
        action="store_true",
        help="train a boundary head beside the CRF (added, untrained, to an --init model)",
    )
    parser.add_argument("--checkpoint-dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=Path, default=TRAIN, help="labelled training split (JSONL)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    pool = load_jsonl(args.train)
    if args.max_messages or args.max_bytes:
        frames = sample_per_protocol(
            pool,
            max_messages=args.max_messages or len(pool),
            max_bytes=args.max_bytes or 1 << 40,
        )
    else:  # every training message once (the split already dropped repeated payloads)
        frames = list({f.message: f for f in reversed(pool)}.values())[::-1]
        random.Random(args.seed).shuffle(frames)
    n_val = max(1, len(frames) // 10)
    val, train = frames[:n_val], frames[n_val:]
    synthetic = modbus_pcap_style(args.synthetic_modbus, seed=args.synthetic_seed)
    balanced = modbus_balanced(args.modbus_balanced, seed=args.seed)
    dnp3 = dnp3_frames(args.dnp3_frames, seed=args.seed)
    grammars = args.procedural // max(1, args.procedural_per_grammar)
    procedural = procedural_frames(grammars, args.procedural_per_grammar, seed=args.seed)
    extra = [f for path in args.extra for f in load_jsonl(path)]
    for item in args.oversample:
        proto, _, times = item.partition("=")
        repeats = [f for f in train if f.protocol == proto] * (int(times) - 1)
        print(f"oversampling {proto}: +{len(repeats):,} repeated messages", flush=True)
        train = train + repeats
    captured = len(train)
    # A generator can hit a real short message byte for byte (a DNP3 null response with the
    # same addresses and sequence): never train on a held-out test message.
    held_out = {f.message for f in load_jsonl(HELD_OUT)} if HELD_OUT.is_file() else set()
    generated = synthetic + balanced + dnp3 + procedural + extra
    kept = [f for f in generated if f.message not in held_out]
    if len(kept) < len(generated):
        print(f"dropped {len(generated) - len(kept)} generated messages equal to held-out ones")
    train = train + kept
    random.Random(args.seed).shuffle(train)
    check_reserved(train)
    print(
        f"training part: {len(train):,} messages ({captured:,} "
        f"captured, {len(synthetic) + len(balanced):,} synthetic Modbus, {len(dnp3):,} "
        f"generated DNP3, {len(procedural):,} procedural, {len(extra):,} extra); "
        f"early stopping on {len(val):,} captured",
        flush=True,
    )
    settings = DetectorSettings(device="cpu", seed=args.seed, boundary_head=args.boundary_head)
    detector = FieldDetector(Config(detector=settings))
    if args.init is not None:
        asyncio.run(detector.load_checkpoint(args.init))
        detector._optimizer_state = None  # a fresh Adam at --lr for the new mix
        print(f"starting from {args.init}", flush=True)
        model = detector.model
        if args.boundary_head and model is not None and not model.has_boundary_head:
            torch.manual_seed(args.seed)
            model.add_boundary_head()
            print("added an untrained boundary head", flush=True)
    t0 = time.perf_counter()
    seen_epochs: list[dict] = []  # type: ignore[type-arg]
    best: dict = {}  # type: ignore[type-arg]

    def on_epoch(epoch: int, result, improved: bool) -> None:  # type: ignore[no-untyped-def]
        seen_epochs.append({"epoch": epoch, **result.val, "seconds": result.seconds})
        if improved and detector.model is not None:
            best["state"] = copy.deepcopy(detector.model.state_dict())
            best["epoch"] = epoch
        print(
            f"epoch {epoch}: loss {result.train_loss:.4f} val boundary F1 "
            f"{result.val['boundary_f1']:.4f} field F1 {result.val['f1']:.4f} "
            + (
                f"head boundary F1 {result.val['head_boundary_f1']:.4f} "
                if "head_boundary_f1" in result.val
                else ""
            )
            + f"({result.seconds:.0f} s, {(time.perf_counter() - t0) / 60:.1f} min in)"
            f"{' *' if improved else ''}",
            flush=True,
        )
        if args.max_minutes and time.perf_counter() - t0 > args.max_minutes * 60:
            raise TimeBudgetSpent

    try:
        history = detector.train(
            train,
            val,
            num_epochs=args.epochs,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            early_stopping_patience=args.patience,
            on_epoch=on_epoch,
            checkpoint_dir=args.checkpoint_dir,
        )
    except TimeBudgetSpent:
        assert detector.model is not None and best
        detector.model.load_state_dict(best["state"])
        detector.clear_cache()
        print(f"time budget of {args.max_minutes:g} min spent: keeping epoch {best['epoch']}")
        history = {
            "summary": {"stopped_on_time": True, "best_epoch": best["epoch"]},
            "val_boundary_f1": [e["boundary_f1"] for e in seen_epochs],
        }
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
        "modbus_balanced": len(balanced),
        "dnp3_frames": len(dnp3),
        "procedural": {"messages": len(procedural), "grammars": grammars},
        "extra": {str(p): sum(1 for _ in p.open()) for p in args.extra},
        "oversample": args.oversample,
        "init": str(args.init) if args.init else None,
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
