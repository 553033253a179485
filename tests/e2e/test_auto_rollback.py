"""Automatic rollback end to end: two worker processes, a degraded model swapped in by command.

v1.0.0 is a trained detector (known good since bootstrap); v1.1.0 is the same network trained
for one epoch at a tiny learning rate — genuinely worse, as the scheduled validation measures.
After a signed ``swap`` to 1.1.0, the workers' validation jobs score it, their monitors see the
accuracy under the threshold for ``hysteresis`` checks, exactly one of them takes the Redis lock
and issues a signed ``emergency_rollback`` to 1.0.0, and both workers apply it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr

from engine.core.config import Config, DetectorSettings
from engine.datasets.synthetic import generate
from engine.detection.field_detector import FieldDetector
from streams.control.events import ControlEvent
from streams.control.settings import RedisSettings
from streams.control.state import VersionStore
from tests.support.deployment import Deployment
from tests.support.stream import TopicReader, command, produce

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

MODELS_KEY = "cronos-monitoring-models-v1"  # bump when the recipe below changes


def _train(out: Path, version: str, epochs: int, lr: float) -> None:
    frames = generate("modbus", 300, seed=1)
    settings = DetectorSettings(
        version=version, embedding_dim=16, hidden_size=32, num_layers=1, seed=0, device="cpu"
    )
    detector = FieldDetector(Config(detector=settings))
    detector.train(frames[:240], frames[240:], num_epochs=epochs, batch_size=16, learning_rate=lr)
    asyncio.run(detector.save_model(out / f"field_detector_v{version}_latest.pt"))


@pytest.fixture(scope="module")
def monitored_models(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Artifact root with a good 1.0.0 and a degraded 1.1.0 (cached across runs: training
    the good one takes minutes on a busy machine; the sha256 sidecars travel with them)."""
    cache = Path(request.config.cache.mkdir(MODELS_KEY)) / "field_detector"
    if not (cache / "field_detector_v1.1.0_latest.pt.sha256").exists():
        cache.mkdir(parents=True, exist_ok=True)
        _train(cache, "1.0.0", epochs=6, lr=1e-2)
        _train(cache, "1.1.0", epochs=1, lr=1e-4)
    root = tmp_path_factory.mktemp("monitored") / "artifacts"
    shutil.copytree(cache, root / "field_detector")
    return root


def _validation_set(path: Path) -> Path:
    lines = [
        orjson.dumps(
            {
                "frame_hex": f.message.hex(),
                "fields": [list(s) for s in f.spans],
                "protocol": "modbus",
            }
        )
        for f in generate("modbus", 40, seed=11)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _frames(n: int, prefix: str, seed: int) -> list[tuple[bytes | None, bytes | None, list]]:
    return [
        (b"plc", f.message, [("protocol", b"modbus"), ("frame-id", f"{prefix}{i}".encode())])
        for i, f in enumerate(generate("modbus", n, seed=seed))
    ]


def _events_for(cmd_id: str, records: list) -> list[ControlEvent]:
    events = [ControlEvent.from_json(r.value) for r in records]
    return [e for e in events if e.command_id == cmd_id]


async def test_degraded_model_is_rolled_back_automatically(
    deployment: Deployment, monitored_models: Path, tmp_path: Path
) -> None:
    dep, t = deployment, deployment.topics
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    dep.env |= {
        "CRONOS_ARTIFACT_ROOT": str(monitored_models),
        "CRONOS_VALIDATION_SET": str(_validation_set(tmp_path / "val.jsonl")),
        "CRONOS_MONITOR_VALIDATION_INTERVAL_S": "3",
        "CRONOS_MONITOR_CHECK_INTERVAL_S": "1",
        "CRONOS_MONITOR_WINDOW_S": "20",
        "CRONOS_MONITOR_BUCKET_S": "2",
        "CRONOS_MONITOR_MIN_SAMPLES": "20",
        "CRONOS_MONITOR_HYSTERESIS": "2",
        "CRONOS_MONITOR_COOLDOWN_S": "300",
        # Accuracy is what this test degrades; on a shared 2-core machine latency is noise.
        "CRONOS_MONITOR_DETECTOR_MAX_LATENCY_MS": "5000",
    }
    dep.start("w1")
    dep.start("w2")
    async with (
        TopicReader(broker, t["results"]) as res,
        TopicReader(broker, t["control"]) as ctl,
        TopicReader(broker, t["events"]) as events,
    ):
        await produce(broker, t["raw"], _frames(20, "a", seed=5))
        for _ in range(900):
            dep.check_alive()
            await res.poll(0.2)
            if len(res.records) >= 20:
                break
        else:
            raise AssertionError(dep.log("w1"))
        assert {orjson.loads(r.value)["detector_version"] for r in res.records} == {"1.0.0"}

        degraded = (
            dep.env["CRONOS_ARTIFACT_ROOT"] + "/field_detector/field_detector_v1.1.0_latest.pt"
        )
        sha = Path(degraded + ".sha256").read_text().split()[0]  # this test's own 1.1.0
        swap = command("swap", {"version": "1.1.0", "reason": "canary of 1.1.0", "sha256": sha})
        swap_id = orjson.loads(swap)["id"]
        await produce(broker, t["control"], [(None, swap, [])])
        swapped_at = time.monotonic()
        await events.until(lambda rs: len(_events_for(swap_id, rs)) >= 2, 120)
        assert {e.outcome for e in _events_for(swap_id, events.records)} == {"applied"}

        def rollbacks(records: list) -> list[dict]:
            cmds = [orjson.loads(r.value) for r in records]
            return [c for c in cmds if c.get("action") == "emergency_rollback"]

        await ctl.until(lambda rs: bool(rollbacks(rs)), 180)
        rolled_at = time.monotonic()
        (rb,) = rollbacks(ctl.records)
        assert rb["issuer"] in {"monitor@w1", "monitor@w2"}
        assert rb["target"]["version"] == "1.0.0"
        assert "accuracy" in rb["target"]["reason"] and "1.1.0" in rb["target"]["reason"]
        figures = rb["target"]["figures"]
        assert figures["accuracy"] < 0.5 and figures["accuracy_n"] >= 20
        assert figures["window_s"] == 20

        await events.until(lambda rs: len(_events_for(rb["id"], rs)) >= 2, 120)
        assert {e.outcome for e in _events_for(rb["id"], events.records)} == {"applied"}
        print(
            f"\nswap → emergency_rollback issued: {rolled_at - swapped_at:.1f} s; figures {figures}"
        )

        await produce(broker, t["raw"], _frames(20, "b", seed=6))
        await res.until(lambda rs: sum(b'"b' in r.value for r in rs) >= 20, 120)
        later = [orjson.loads(r.value) for r in res.records]
        assert {x["detector_version"] for x in later if x["frame_id"].startswith("b")} == {"1.0.0"}

        # The cool-down lock holds: still exactly one rollback a few checks later.
        quiet_until = time.monotonic() + 3
        while time.monotonic() < quiet_until:
            await ctl.poll(0.5)
        assert len(rollbacks(ctl.records)) == 1

    redis = RedisSettings(
        url=SecretStr(dep.env["CRONOS_REDIS_URL"]), key_prefix=dep.env["CRONOS_REDIS_KEY_PREFIX"]
    )
    store = VersionStore.from_settings(redis)
    try:
        history = await store.get_history("field_detector", limit=20)
        assert (await store.get_active("field_detector")).version == "1.0.0"  # type: ignore[union-attr]
    finally:
        await store.aclose()
    applied = [h for h in history if h.action == "emergency_rollback" and h.outcome == "applied"]
    assert len(applied) == 1
    entry = applied[0]
    assert (entry.from_version, entry.to_version) == ("1.1.0", "1.0.0")
    assert entry.issuer.startswith("monitor@")
    assert entry.reason is not None and "accuracy=" in entry.reason and "count=" in entry.reason
