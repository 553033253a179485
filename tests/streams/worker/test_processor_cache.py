"""The detector's result cache, seen from the worker: hit counts reach Prometheus."""

from __future__ import annotations

from prometheus_client import REGISTRY

from engine.detection.default_model import load_default_detector
from streams.worker.processor import BatchProcessor
from streams.worker.registry import DETECTOR, Active, ModelRegistry
from streams.worker.results import Frame
from streams.worker.settings import WorkerSettings

FRAME = bytes.fromhex("000100000006010300000002")


def _sample(result: str) -> float:
    labels = {"model_version": "9.9.1", "result": result}
    return REGISTRY.get_sample_value("cronos_detector_cache_lookups_total", labels) or 0.0


async def test_repeated_frames_are_counted_as_cache_hits() -> None:
    registry = ModelRegistry()
    detector = await load_default_detector()
    registry.activate(DETECTOR, None, Active(detector, "9.9.1", "0" * 64, "/x", "cmd"))
    processor = BatchProcessor(registry, WorkerSettings(worker_id="cache-test"))
    hits, misses = _sample("hit"), _sample("miss")

    first = await processor.process([Frame(FRAME, b"k", [("frame-id", b"a")])])
    again = await processor.process([Frame(FRAME, b"k", [("frame-id", b"b")])])

    assert _sample("miss") == misses + 1 and _sample("hit") == hits + 1
    assert first[0].result is not None and again[0].result is not None
    fields = [r.split(b'"detector_version"')[0] for r in (first[0].result, again[0].result)]
    assert fields[0].replace(b'"a"', b'"b"') == fields[1]  # same fields, from the cache
    entries = REGISTRY.get_sample_value("cronos_detector_cache_entries", {"model_version": "9.9.1"})
    assert entries == 1
