"""A worker's results on a real capture equal one-by-one detection with the same model.

The worker buckets frames by length inside a call, serves repeats from its cache, and keeps two
batches in flight (one detected while the previous one is published); none of that may change
a result. The capture is replayed in capture order with its mixed lengths (10–240 bytes) and
repeated register reads, so every path (buckets of several lengths, cache hits, overlapping
batches) is taken.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from engine.core.config import Config
from engine.detection.field_detector import FieldDetector
from engine.translation.pcap import modbus_adus
from tests.support.deployment import Deployment
from tests.support.paths import REPO_ROOT
from tests.support.stream import TopicReader, produce

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(240)]

CAPTURES = REPO_ROOT / "data" / "captures" / "modbus"


def _frames() -> list[bytes]:
    polling = [adu for _, adu in modbus_adus(CAPTURES / "iti__ModbusTCP.pcap")][:300]
    repeats = [adu for _, adu in modbus_adus(CAPTURES / "iti__modbus_test_2.pcap")][:200]
    return [f for f in polling + repeats if len(f) <= 400]


async def test_pipelined_bucketed_cached_results_equal_one_by_one(
    deployment: Deployment,
) -> None:
    dep, t = deployment, deployment.topics
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    frames = _frames()
    assert len({len(f) for f in frames}) >= 5, "the sample must mix lengths"
    assert len(set(frames)) < len(frames), "the sample must repeat frames (cache hits)"
    dep.env |= {"CRONOS_BATCH_SIZE": "64", "CRONOS_PIPELINE_DEPTH": "2"}
    dep.start("w1")
    records = [
        (b"plc", f, [("protocol", b"modbus"), ("frame-id", f"p{i}".encode())])
        for i, f in enumerate(frames)
    ]
    await produce(broker, t["raw"], records)
    async with TopicReader(broker, t["results"]) as res:
        for _ in range(600):
            dep.check_alive()
            await res.poll()
            if len(res.records) >= len(frames):
                break
        else:
            raise AssertionError(f"{len(res.records)} of {len(frames)} results\n{dep.log('w1')}")
    got = {}
    for r in res.records:
        doc = orjson.loads(r.value)
        got[doc["frame_id"]] = doc
    assert len(got) == len(frames)

    root = dep.env["CRONOS_ARTIFACT_ROOT"]
    detector = FieldDetector(Config())
    await detector.load_checkpoint(f"{root}/field_detector/field_detector_v1.0.0_latest.pt")
    mismatches = []
    for i, frame in enumerate(frames):
        detector.clear_cache()
        one = await asyncio.to_thread(detector.detect_boundaries_batch, [frame])
        want = [(f.start_pos, f.end_pos, f.field_type) for f in one[0]]
        doc = got[f"p{i}"]
        have = [(f["start"], f["end"], f["type"]) for f in doc["fields"]]
        conf_ok = all(
            abs(a.confidence - b["confidence"]) < 1e-4
            for a, b in zip(one[0], doc["fields"], strict=False)
        )
        if want != have or not conf_ok:
            mismatches.append((i, frame.hex(), want, have))
    assert not mismatches, mismatches[:3]
