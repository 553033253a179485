"""Length classes inside a call and the LRU cache of repeated frames.

Bucketed batches must give what one-frame calls give (padding changes nothing), and the cache
must answer as a fresh computation would, stay bounded, and forget everything when the weights
change.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import torch

from engine.datasets.synthetic import generate
from engine.detection.batching import length_buckets
from engine.detection.boundary import FieldBoundary
from engine.detection.field_detector import FieldDetector
from engine.translation.pcap import modbus_adus

from .conftest import small_config

CAPTURE = (
    Path(__file__).resolve().parents[2] / "data" / "captures" / "modbus" / "iti__modbus_test.pcap"
)


def sharing(detector: FieldDetector, **settings: object) -> FieldDetector:
    """A detector with other settings over the same weights."""
    other = FieldDetector(small_config(**settings))
    other.model, other.tagset = detector.model, detector.tagset
    return other


def assert_same(got: list[list[FieldBoundary]], want: list[list[FieldBoundary]]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert [(f.start_pos, f.end_pos, f.field_type) for f in g] == [
            (f.start_pos, f.end_pos, f.field_type) for f in w
        ]
        for a, b in zip(g, w, strict=True):
            assert a.confidence == pytest.approx(b.confidence, abs=1e-5)


@pytest.fixture(scope="module")
def capture_mix() -> list[bytes]:
    """Real capture frames in capture order (with their repeats), a few long frames mixed in."""
    frames = [adu for _, adu in modbus_adus(CAPTURE)][:240]
    rng = random.Random(7)
    for pos, size in ((10, 239), (50, 145), (51, 207), (120, 253), (200, 400), (230, 600)):
        frames.insert(pos, bytes(rng.randrange(256) for _ in range(size)))
    return frames


def test_length_buckets_bound_padding() -> None:
    lengths = [12] * 60 + [239, 145, 207, 13]
    for batch in length_buckets(lengths, 256, 64 * 1024, max_waste=0.25):
        padded = len(batch) * max(lengths[i] for i in batch)
        real = sum(lengths[i] for i in batch)
        assert padded - real <= 0.25 * padded
    # Without the bound the whole call is one batch padded to 239 bytes.
    assert len(list(length_buckets(lengths, 256, 64 * 1024))) == 1


@pytest.mark.parametrize("cache_size", [0, 4096])
def test_bucketed_batch_equals_one_by_one(
    trained: tuple, capture_mix: list[bytes], cache_size: int
) -> None:
    base, _, _ = trained
    reference = sharing(base, cache_size=0)
    one_by_one = [reference.detect_boundaries_batch([m])[0] for m in capture_mix]
    detector = sharing(base, cache_size=cache_size)
    assert_same(detector.detect_boundaries_batch(capture_mix), one_by_one)
    # Again (served from the cache when it is on), and in calls of 64 as a worker makes them.
    calls = [capture_mix[i : i + 64] for i in range(0, len(capture_mix), 64)]
    assert_same([f for c in calls for f in detector.detect_boundaries_batch(c)], one_by_one)
    # Padding to the longest frame (no waste bound) gives the same too.
    padded = sharing(base, cache_size=0, max_padding_waste=1.0)
    assert_same(padded.detect_boundaries_batch(capture_mix), one_by_one)
    stats = detector.cache_stats()
    if cache_size:
        assert stats.hits > 0 and stats.size > 0
    else:
        assert stats == (0, 0, 0, 0, 0)


def test_cache_matches_fresh_is_bounded_and_counts(
    trained: tuple, capture_mix: list[bytes]
) -> None:
    base, _, _ = trained
    detector = sharing(base, cache_size=50, cache_max_frame_bytes=512)
    fresh = sharing(base, cache_size=0).detect_boundaries_batch(capture_mix)
    for i in range(0, len(capture_mix), 16):
        detector.detect_boundaries_batch(capture_mix[i : i + 16])
        assert detector.cache_stats().size <= 50
    assert detector.cache_stats().size == 50
    tail = capture_mix[-30:]  # the most recent entries: all hits now
    before = detector.cache_stats()
    got = detector.detect_boundaries_batch(tail)
    after = detector.cache_stats()
    cacheable = sum(len(m) <= 512 for m in tail)
    assert after.hits - before.hits == cacheable
    assert after.misses == before.misses
    assert_same(got, fresh[-30:])
    # Frames over the length cap are never cached.
    long_frame = next(m for m in capture_mix if len(m) > 512)
    detector.detect_boundaries_batch([long_frame])
    assert detector.cache_stats()[:2] == after[:2]


def test_cached_results_are_the_callers_own(trained: tuple) -> None:
    detector = sharing(trained[0])
    msg = generate("modbus", 1, seed=3)[0].message
    first = detector.detect_boundaries_batch([msg, msg])
    assert first[0] is not first[1]
    want = list(first[0])
    first[0].clear()
    first[1].append(FieldBoundary(0, 1, "junk", 0.0))
    again = detector.detect_boundaries_batch([msg])[0]
    assert again == want
    again.clear()
    assert asyncio.run(detector.detect_boundaries(msg)) == want
    assert detector.cache_stats().hits == 2


def fields_key(results: list[list[FieldBoundary]]) -> list[list[tuple[int, int, str, float]]]:
    return [
        [(f.start_pos, f.end_pos, f.field_type, round(f.confidence, 6)) for f in r] for r in results
    ]


def test_cache_forgets_old_weights(tmp_path: Path) -> None:
    """Training, loading a checkpoint and in-place weight edits all invalidate the cache."""
    train = generate("modbus", 120, seed=11)
    val = generate("modbus", 40, seed=12)
    msgs = [f.message for f in generate("modbus", 30, seed=13)]
    detector = FieldDetector(small_config())
    detector.train(train, val, num_epochs=1, learning_rate=5e-3, batch_size=32)
    asyncio.run(detector.save_model(tmp_path / "a.pt"))
    old = detector.detect_boundaries_batch(msgs)
    assert detector.detect_boundaries_batch(msgs) == old  # cached
    assert detector.cache_stats().hits == len(msgs)

    def fresh() -> list[list[FieldBoundary]]:
        return sharing(detector, cache_size=0).detect_boundaries_batch(msgs)

    # Retraining changes the weights in place: results must come from the new weights.
    detector.train(train, val, num_epochs=2, learning_rate=5e-3, batch_size=32)
    new = detector.detect_boundaries_batch(msgs)
    assert fields_key(new) != fields_key(old)
    assert_same(new, fresh())

    # train_batch too.
    detector.detect_boundaries_batch(msgs)
    detector.train_batch([generate("modbus", 60, seed=14)], val, num_epochs_per_batch=1)
    after_batch = detector.detect_boundaries_batch(msgs)
    assert fields_key(after_batch) != fields_key(new)
    assert_same(after_batch, fresh())

    # Loading the first checkpoint brings back its results.
    asyncio.run(detector.load_checkpoint(tmp_path / "a.pt"))
    assert_same(detector.detect_boundaries_batch(msgs), old)

    # Even an edit that bypasses the detector's methods is noticed.
    model = detector.model
    assert model is not None
    with torch.no_grad():
        model.emission.bias[0] += 5.0
    edited = detector.detect_boundaries_batch(msgs)
    assert fields_key(edited) != fields_key(old)
    assert_same(edited, fresh())
    assert detector.cache_stats().invalidations >= 4


def test_quantize_invalidates(trained: tuple) -> None:
    base, _, _ = trained
    detector = FieldDetector(small_config(device="cpu"))
    detector.model, detector.tagset = base.model, base.tagset
    msgs = [f.message for f in generate("modbus", 20, seed=21)]
    detector.detect_boundaries_batch(msgs)
    assert detector.cache_stats().size > 0
    # A CPU model with no accuracy bar: quantization cannot be refused, so nothing is skipped.
    detector.quantize(generate("modbus", 60, seed=22), max_boundary_f1_drop=1.0)
    assert detector.cache_stats().size == 0
    want = sharing(detector, cache_size=0)
    want._inference_model = detector._inference_model
    assert_same(detector.detect_boundaries_batch(msgs), want.detect_boundaries_batch(msgs))


def test_cache_size_zero_disables(trained: tuple) -> None:
    detector = sharing(trained[0], cache_size=0)
    msg = generate("modbus", 1, seed=4)[0].message
    for _ in range(3):
        detector.detect_boundaries_batch([msg])
    assert detector.cache_stats() == (0, 0, 0, 0, 0)
