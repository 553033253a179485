"""Leave-one-protocol-out: train on every other protocol, score the held-out one.

One model per protocol, trained from scratch on the training split of the *other* protocols with
the default model's recipe (at most 800 messages and 60 kB per protocol, lr 8e-3; here at most
12 epochs) and scored on the held-out protocol's test files. Results are cached as JSON under
``bench/results/lopo/`` so the table can be rebuilt without retraining;
``python bench/accuracy_lopo.py PROTOCOL`` trains one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy_scoring import score  # noqa: E402

from engine.core.config import Config, DetectorSettings  # noqa: E402
from engine.datasets.split import sample_per_protocol  # noqa: E402
from engine.detection.dataset import LabelledFrame, load_jsonl  # noqa: E402
from engine.detection.field_detector import FieldDetector  # noqa: E402

DATA = ROOT / "data/datasets/pcap"
RESULTS = ROOT / "bench/results/lopo"


def spans_of(detector: FieldDetector, frames: list[LabelledFrame]) -> list[list]:
    """Predicted ``(start, end, type)`` spans per frame."""
    out = detector.detect_boundaries_batch([f.message for f in frames])
    return [[(b.start_pos, b.end_pos, b.field_type) for b in fields] for fields in out]


def boundary_only(frames: list[LabelledFrame]) -> list[LabelledFrame]:
    """The same frames with every span typed ``field``: the model learns cuts, not names."""
    return [
        LabelledFrame(f.message, tuple((s, e, "field") for s, e, _ in f.spans), f.protocol)
        for f in frames
    ]


def run_one(
    protocol: str,
    *,
    cap: int,
    max_bytes: int,
    epochs: int,
    seed: int = 0,
    untyped: bool = False,
) -> dict:
    """Train without ``protocol``, score on its test files; returns and caches the result.

    With ``untyped`` the model is trained on boundary-only labels (one field type).
    """
    others = [f for f in load_jsonl(DATA / "train.jsonl") if f.protocol != protocol]
    train = sample_per_protocol(others, max_messages=cap, max_bytes=max_bytes, seed=seed)
    if untyped:
        train = boundary_only(train)
    n_val = max(1, len(train) // 10)
    test = [f for f in load_jsonl(DATA / "test.jsonl") if f.protocol == protocol]
    detector = FieldDetector(Config(detector=DetectorSettings(device="cpu")))
    t0 = time.perf_counter()
    detector.train(
        train[n_val:],
        train[:n_val],
        num_epochs=epochs,
        learning_rate=8e-3,
        batch_size=32,
        early_stopping_patience=3,
    )
    seconds = time.perf_counter() - t0
    result = {
        "protocol": protocol,
        "train_messages": len(train) - n_val,
        "test_messages": len(test),
        "train_seconds": round(seconds, 1),
        "epochs": epochs,
        "cap_per_protocol": cap,
        "max_bytes_per_protocol": max_bytes,
        "labels": "boundary-only" if untyped else "typed",
        **score(spans_of(detector, test), [f.spans for f in test]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"{protocol}_boundary" if untyped else protocol
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("protocols", nargs="+")
    parser.add_argument("--cap", type=int, default=800, help="training messages per protocol")
    parser.add_argument("--max-bytes", type=int, default=60_000, help="per protocol")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--untyped", action="store_true", help="boundary-only labels")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for proto in args.protocols:
        r = run_one(
            proto,
            cap=args.cap,
            max_bytes=args.max_bytes,
            epochs=args.epochs,
            untyped=args.untyped,
        )
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
