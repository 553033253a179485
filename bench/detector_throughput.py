"""Field detector speed: batched frames/s and single-frame latency.

Prints frames/s of ``detect_boundaries_batch`` for 16, 64 and 256-byte Modbus/TCP frames and p50/p99
latency of single-frame ``detect_boundaries``, for the default network shape. The baseline in the
same process is the same network decoded with pytorch-crf's own ``decode`` (Viterbi only, no
marginals), so the ratio shows what the vectorised decoder buys.

    .venv/bin/python bench/detector_throughput.py [--frames 4096] [--model PATH]

Targets (issue 2, 2 CPU cores): ≥ 3,000 frames/s at 64 bytes batched, single-frame p50 ≤ 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import struct
import time
from collections.abc import Callable

import torch

from engine.core.config import Config
from engine.datasets.synthetic import generate
from engine.detection.batching import length_buckets, pad_bytes
from engine.detection.field_detector import FieldDetector
from engine.detection.inference import MAX_TOKENS_PER_BATCH


def frames_of(size: int, n: int, seed: int) -> list[bytes]:
    """Modbus/TCP read responses of exactly ``size`` bytes (MBAP + FC + byte count + data)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        data = bytes(rng.randrange(256) for _ in range(size - 9))
        pdu = bytes([rng.choice([1, 2, 3, 4]), len(data)]) + data
        mbap = struct.pack(">HHHB", rng.randrange(65536), 0, len(pdu) + 1, 1)
        out.append(mbap + pdu)
    return out


def rate(fn: Callable[[], object], n_frames: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_frames / best


@torch.inference_mode()
def pytorch_crf_baseline(detector: FieldDetector, msgs: list[bytes]) -> None:
    model = detector.model
    assert model is not None
    lengths = [len(m) for m in msgs]
    for idx in length_buckets(
        lengths, detector.settings.inference_batch_size, MAX_TOKENS_PER_BATCH
    ):
        ids, lens = pad_bytes([msgs[i] for i in idx])
        em = model.emissions(ids, lens)
        mask = torch.arange(ids.shape[1]).unsqueeze(0) < lens.unsqueeze(1)
        model.crf.decode(em, mask=mask)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4096)
    ap.add_argument(
        "--model",
        default=None,
        help="checkpoint to load (default: untrained "
        "default-shape network with the synthetic Modbus tag set)",
    )
    args = ap.parse_args()
    detector = FieldDetector(Config())
    if args.model:
        await detector.load_checkpoint(args.model)
    else:
        # A short training run, so the model predicts realistic spans (the number of spans per
        # frame drives post-processing cost); speed does not depend on accuracy otherwise.
        detector.train(
            generate("modbus", 800, seed=0),
            generate("modbus", 200, seed=1),
            num_epochs=6,
            learning_rate=5e-3,
            batch_size=32,
        )
    m = detector.model
    assert m is not None
    # Move start-up objects (torch, numba, the model) out of the collector's view, as the worker
    # does after loading: otherwise full collections rescan them while results are being built.
    gc.freeze()
    params = sum(p.numel() for p in m.parameters())
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"model {m.config}, {params:,} parameters, {len(detector.field_types)} field types"
    )
    print(f"\n{'frame bytes':>11} {'frames/s':>10} {'pytorch-crf decode':>19} {'ratio':>6}")
    for size in (16, 64, 256):
        n = args.frames if size < 256 else args.frames // 2
        msgs = frames_of(size, n, seed=size)
        ours = rate(lambda msgs=msgs: detector.detect_boundaries_batch(msgs), n)
        base = rate(lambda msgs=msgs: pytorch_crf_baseline(detector, msgs), n)
        print(f"{size:>11} {ours:>10,.0f} {base:>19,.0f} {ours / base:>5.2f}x")
    print("\nsingle-frame latency (detect_boundaries, 500 calls):")
    for size in (16, 64, 256):
        msgs = frames_of(size, 500, seed=size + 1)
        for msg in msgs[:20]:
            await detector.detect_boundaries(msg)
        samples = []
        for msg in msgs:
            t0 = time.perf_counter()
            await detector.detect_boundaries(msg)
            samples.append((time.perf_counter() - t0) * 1000)
        q = statistics.quantiles(samples, n=100)
        print(f"  {size:>4} bytes: p50 {statistics.median(samples):.3f} ms   p99 {q[98]:.3f} ms")


if __name__ == "__main__":
    asyncio.run(main())
