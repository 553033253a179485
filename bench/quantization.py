"""Dynamic int8 quantization: accuracy and speed before/after, in the same process.

Trains the default-shape detector briefly on synthetic Modbus/TCP (or loads ``--model``), then
prints field F1, boundary F1 and batched frames/s of the float model and of its int8 copy
(``FieldDetector.quantize``: LSTMs and the emission layer quantized, CRF float). The copy is
refused when validation boundary F1 falls by more than 0.005; the bench says so. Float and int8
timings are interleaved (best of 5 each), so load from other processes hits both alike.

    .venv/bin/python bench/quantization.py [--frames 4096] [--model PATH] [--epochs 6]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

import torch

from engine.core.config import Config, DetectorSettings
from engine.datasets.synthetic import generate
from engine.detection.epochs import Encoded, evaluate
from engine.detection.field_detector import FieldDetector
from engine.detection.inference import predict_boundaries
from engine.detection.model import BiLSTMCRF
from engine.detection.quantization import QuantizationRefusedError, quantize_model


def rates(fns: list[Callable[[], object]], n_frames: int, repeats: int = 5) -> list[float]:
    """Best-of-``repeats`` frames per second of each function, runs interleaved.

    Interleaving means a busy machine slows every variant alike, so the ratio stays fair.
    """
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [n_frames / b for b in best]


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4096)
    ap.add_argument("--model", default=None, help="checkpoint to load instead of training")
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    detector = FieldDetector(Config(detector=DetectorSettings(device="cpu")))
    val = generate("modbus", 400, seed=11)
    if args.model:
        await detector.load_checkpoint(args.model)
    else:
        detector.train(
            generate("modbus", 1200, seed=10),
            val,
            num_epochs=args.epochs,
            learning_rate=5e-3,
            batch_size=32,
        )
    test = generate("modbus", 1000, seed=12)
    msgs = [f.message for f in generate("modbus", args.frames, seed=13)]
    m = detector.model
    assert m is not None
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, model {m.config}")
    detector.detect_boundaries_batch(msgs[:64])  # compile the numba decoders first
    with torch.inference_mode():
        before = detector.evaluate(test)
    try:
        report = detector.quantize(val)
        refused = None
    except QuantizationRefusedError as exc:
        report, refused = exc.report, str(exc)
    assert report is not None
    if refused is None:
        q = quantize_model(m)
        after = _score(q, detector, test)
        fps_before, fps_after = rates(
            [_infer(m, detector, msgs), _infer(q, detector, msgs)], len(msgs)
        )
    print(
        f"\nvalidation (gate, {len(val)} frames): boundary F1 {report.float_boundary_f1:.4f} → "
        f"{report.quantized_boundary_f1:.4f} (drop {report.boundary_f1_drop:+.4f}, max "
        f"{report.max_drop})"
    )
    if refused is not None:
        print(f"REFUSED: {refused}")
        return
    print(
        f"\n{'':>10} {'field F1':>9} {'boundary F1':>12} {'frames/s':>10}   ({len(test)} test "
        f"frames; {len(msgs)} frames timed)"
    )
    print(
        f"{'float32':>10} {before['f1']:>9.4f} {before['boundary_f1']:>12.4f} {fps_before:>10,.0f}"
    )
    print(f"{'int8':>10} {after['f1']:>9.4f} {after['boundary_f1']:>12.4f} {fps_after:>10,.0f}")
    d_f1, d_bf1 = after["f1"] - before["f1"], after["boundary_f1"] - before["boundary_f1"]
    print(f"{'change':>10} {d_f1:>+9.4f} {d_bf1:>+12.4f} {fps_after / fps_before:>9.2f}x")


def _score(model: BiLSTMCRF, detector: FieldDetector, frames: list) -> dict[str, float]:
    """Scores of ``model``, computed exactly as the quantize() gate computes them."""
    assert detector.tagset is not None
    with torch.inference_mode():
        encoded = Encoded.build(frames, detector.tagset)
        return evaluate(model, detector.tagset, encoded, 64, detector.device)


def _infer(model: BiLSTMCRF, detector: FieldDetector, msgs: list[bytes]) -> Callable[[], object]:
    """What detect_boundaries_batch runs, for a given (float or int8) model."""
    assert detector.tagset is not None
    size = detector.settings.inference_batch_size
    tagset, device = detector.tagset, detector.device
    return lambda: predict_boundaries(model, tagset, msgs, batch_size=size, device=device)


if __name__ == "__main__":
    asyncio.run(main())
