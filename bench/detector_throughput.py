"""Field detector speed: batched frames/s and single-frame latency.

Prints frames/s of ``detect_boundaries_batch`` for 16, 64 and 256-byte Modbus/TCP frames and p50/p99
latency of single-frame ``detect_boundaries``, for the default network shape. The baseline in the
same process is the same network decoded with pytorch-crf's own ``decode`` (Viterbi only, no
marginals), so the ratio shows what the vectorised decoder buys.

Then the real captures (``data/captures/modbus``), frames in capture order, in calls of 64 and
512 as a worker makes them, each through:

* ``old``: the path before length classes and the cache — a call sorted by length and cut only
  by ``inference_batch_size`` and the token budget, so a call of 64 is padded to its longest
  frame; no cache, no de-duplication;
* ``buckets``: batches also end before padding passes ``max_padding_waste`` (no cache, no
  de-duplication) — ``predict_boundaries`` called directly;
* ``detector, cache off``: ``detect_boundaries_batch`` with ``cache_size=0`` (buckets plus
  computing a frame repeated within one call once);
* ``detector, cache on``: the default (``cache_size`` 4096), started empty for every pass.

    .venv/bin/python bench/detector_throughput.py [--frames 4096] [--model PATH] [--no-synthetic]

Targets (issue 2, 2 CPU cores): ≥ 3,000 frames/s at 64 bytes batched, single-frame p50 ≤ 2 ms.
Targets (detector issue on the real mix): ≥ 10,000 frames/s on the Modbus/TCP capture.
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
from pathlib import Path

import torch

from engine.core.config import Config
from engine.datasets.synthetic import generate
from engine.detection.batching import length_buckets, pad_bytes
from engine.detection.field_detector import FieldDetector
from engine.detection.inference import MAX_TOKENS_PER_BATCH, predict_boundaries
from engine.translation.pcap import modbus_adus

CAPTURES = Path(__file__).resolve().parent.parent / "data" / "captures" / "modbus"
#: The polling capture of the issue (mostly 10–14-byte frames, ~5 % of 145–253 bytes, few exact
#: repeats), and a smaller one where over a quarter of the frames repeat exactly.
REAL_CAPTURES = ("iti__ModbusTCP.pcap", "iti__modbus_test_2.pcap")


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
    """Frames/s of the best of ``repeats`` runs of ``fn``."""
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


def padded(detector: FieldDetector, calls: list[list[bytes]], max_waste: float) -> None:
    """Every call length-sorted and cut into passes, no cache. ``max_waste=1.0`` is the old
    path: a pass is padded to its longest frame however short the others are."""
    model, tagset = detector._require_model()
    for call in calls:
        predict_boundaries(
            model,
            tagset,
            call,
            batch_size=detector.settings.inference_batch_size,
            device=detector.device,
            max_waste=max_waste,
        )


def through(detector: FieldDetector, calls: list[list[bytes]]) -> None:
    detector.clear_cache()  # every pass starts cold: the cache only knows this pass's repeats
    for call in calls:
        detector.detect_boundaries_batch(call)


def real_workloads(detector: FieldDetector, uncached: FieldDetector, repeats: int) -> None:
    print(
        f"\n{'capture':<26} {'call':>5} {'old':>8} {'buckets':>8} {'cache off':>10} "
        f"{'cache on':>9} {'ratio on/old':>13} {'hit rate':>9}"
    )
    for name in REAL_CAPTURES:
        frames = [adu for _, adu in modbus_adus(CAPTURES / name)]
        for call_size in (64, 512):
            calls = [frames[i : i + call_size] for i in range(0, len(frames), call_size)]
            n = len(frames)
            old = rate(lambda calls=calls: padded(detector, calls, 1.0), n, repeats)
            bucketed = rate(
                lambda calls=calls: padded(detector, calls, detector.settings.max_padding_waste),
                n,
                repeats,
            )
            off = rate(lambda calls=calls: through(uncached, calls), n, repeats)
            before = detector.cache_stats()
            on = rate(lambda calls=calls: through(detector, calls), n, repeats)
            after = detector.cache_stats()
            looked = (after.hits - before.hits) + (after.misses - before.misses)
            hit_rate = (after.hits - before.hits) / looked if looked else 0.0
            print(
                f"{name:<26} {call_size:>5} {old:>8,.0f} {bucketed:>8,.0f} {off:>10,.0f} "
                f"{on:>9,.0f} {on / old:>12.2f}x {hit_rate:>8.1%}"
            )


async def latency(detector: FieldDetector, label: str, msgs: list[bytes]) -> None:
    for msg in msgs[:20]:
        await detector.detect_boundaries(msg)
    samples = []
    for msg in msgs:
        t0 = time.perf_counter()
        await detector.detect_boundaries(msg)
        samples.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(samples, n=100)
    print(f"  {label}: p50 {statistics.median(samples):.3f} ms   p99 {q[98]:.3f} ms")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4096)
    ap.add_argument(
        "--model",
        default=None,
        help="checkpoint to load (default: untrained "
        "default-shape network with the synthetic Modbus tag set)",
    )
    ap.add_argument("--no-synthetic", action="store_true", help="only the real captures")
    ap.add_argument("--repeats", type=int, default=3, help="passes per figure (best is kept)")
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
    # The same weights without the cache, for the "cache off" figures.
    uncached = FieldDetector(
        Config(detector=detector.settings.model_copy(update={"cache_size": 0}))
    )
    uncached.model, uncached.tagset = detector.model, detector.tagset
    # Move start-up objects (torch, numba, the model) out of the collector's view, as the worker
    # does after loading: otherwise full collections rescan them while results are being built.
    gc.freeze()
    params = sum(p.numel() for p in m.parameters())
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"model {m.config}, {params:,} parameters, {len(detector.field_types)} field types"
    )
    real_workloads(detector, uncached, args.repeats)
    real = [adu for _, adu in modbus_adus(CAPTURES / REAL_CAPTURES[0])]
    print("\nsingle-frame latency on the Modbus/TCP capture (detect_boundaries, 2,000 calls):")
    await latency(uncached, "cache off", real[:2000])
    detector.clear_cache()
    await latency(detector, "cache on ", real[:2000])
    if args.no_synthetic:
        return
    print(f"\n{'frame bytes':>11} {'frames/s':>10} {'pytorch-crf decode':>19} {'ratio':>6}")
    for size in (16, 64, 256):
        n = args.frames if size < 256 else args.frames // 2
        msgs = frames_of(size, n, seed=size)
        # Cache off: these synthetic frames are all distinct anyway.
        ours = rate(lambda msgs=msgs: uncached.detect_boundaries_batch(msgs), n)
        base = rate(lambda msgs=msgs: pytorch_crf_baseline(detector, msgs), n)
        print(f"{size:>11} {ours:>10,.0f} {base:>19,.0f} {ours / base:>5.2f}x")
    print("\nsingle-frame latency (detect_boundaries, 500 calls):")
    for size in (16, 64, 256):
        await latency(uncached, f"{size:>4} bytes", frames_of(size, 500, seed=size + 1))


if __name__ == "__main__":
    asyncio.run(main())
