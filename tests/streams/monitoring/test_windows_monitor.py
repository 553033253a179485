"""Metric windows, the monitor's auto-rollback decision and the promote gate, against Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from redis.asyncio import Redis

from streams.control.activation import Activator
from streams.control.artifact_root import ArtifactRoot
from streams.control.command import verify
from streams.control.settings import ControlSettings
from streams.control.state import VersionPointer, VersionStore
from streams.monitoring.monitor import Monitor
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.shadow import BASELINE, SHADOW, shadow_verdict
from streams.monitoring.windows import Figures, MetricWindows
from streams.worker.registry import DETECTOR, Active, ModelRegistry
from tests.support.stream import HMAC_KEY, command

pytestmark = pytest.mark.integration
NOW = 1_800_000_000.0  # a bucket boundary for bucket_s 10


def _figs(
    count: int = 0,
    latency_ms: float = 1.0,
    accuracy: float | None = None,
    n_acc: int = 0,
    errors: int = 0,
) -> Figures:
    f = Figures(count=count, errors=errors)
    if count:
        f.add_latency(latency_ms, count)
    if accuracy is not None:
        f.accuracy, f.accuracy_n = accuracy * n_acc, n_acc
    return f


async def test_buckets_sum_into_sliding_windows(redis_client: Redis, redis_prefix: str) -> None:
    w = MetricWindows(redis_client, redis_prefix, bucket_s=10, ttl_s=120)
    await w.record(
        [
            (DETECTOR, "1.0.0", _figs(10, 2.0)),
            ("translation_rules:a->b", "1.0.0", _figs(4, 0.3, errors=1)),
        ],
        now=NOW - 35,
    )
    await w.record([(DETECTOR, "1.0.0", _figs(5, 8.0, accuracy=0.5, n_acc=4))], now=NOW + 1)
    recent = await w.read(DETECTOR, "1.0.0", 10, now=NOW + 2)
    assert (recent.count, recent.avg_latency_ms(), recent.avg_accuracy()) == (5, 8.0, 0.5)
    whole = await w.read(DETECTOR, "1.0.0", 60, now=NOW + 2)
    assert whole.count == 15 and whole.avg_latency_ms() == pytest.approx(4.0)
    assert whole.latency_quantile(0.5) == 2.5 and whole.latency_quantile(0.99) == 10.0
    rules = await w.read("translation_rules:a->b", "1.0.0", 60, now=NOW + 2)
    assert rules.success_rate() == 0.75
    assert await w.known(3600, now=NOW + 2) == [
        (DETECTOR, "1.0.0"),
        ("translation_rules:a->b", "1.0.0"),
    ]
    ttl = await redis_client.ttl(w.key(DETECTOR, "1.0.0", int((NOW + 1) // 10)))
    assert 0 < ttl <= 120
    series = await w.series(DETECTOR, "1.0.0", 60, now=NOW + 2)
    assert [f.count for _, f in series] == [0, 10, 0, 0, 0, 5]


def _registry(version: str) -> ModelRegistry:
    reg = ModelRegistry()
    reg.activate(DETECTOR, None, Active(object(), version, "0" * 64, "/x", "cmd"))
    return reg


async def _seed(store: VersionStore) -> None:
    good = VersionPointer("1.0.0", "/a", "a" * 64, "boot")
    await store.compare_and_set_active(DETECTOR, None, None, good)
    await store.mark_known_good(DETECTOR, None, good)
    bad = VersionPointer("1.1.0", "/b", "b" * 64, "swap-1")
    assert await store.compare_and_set_active(DETECTOR, None, "1.0.0", bad)


async def test_one_rollback_after_hysteresis(redis_client: Redis, redis_prefix: str) -> None:
    settings = MonitorSettings(window_s=30, min_samples=20, hysteresis=2, cooldown_s=60)
    windows = MetricWindows(redis_client, redis_prefix, bucket_s=5)
    store = VersionStore(redis_client, prefix=redis_prefix)
    await _seed(store)
    sent: list[bytes] = []

    async def publish(raw: bytes) -> None:
        sent.append(raw)

    monitors = [
        Monitor(
            worker_id=w,
            settings=settings,
            windows=windows,
            store=store,
            registry=_registry("1.1.0"),
            key=HMAC_KEY,
            publish=publish,
        )
        for w in ("w1", "w2")
    ]
    # Too few validated frames: no verdict, whatever the accuracy.
    await windows.record([(DETECTOR, "1.1.0", _figs(50, 1.0, accuracy=0.2, n_acc=10))])
    assert (await monitors[0].check_all())[0].breaches == []
    await windows.record([(DETECTOR, "1.1.0", _figs(0, accuracy=0.2, n_acc=30))])
    first = [(await m.check_all())[0] for m in monitors]
    assert [c.action for c in first] == ["breached", "breached"]
    second = [(await m.check_all())[0].action for m in monitors]
    assert sorted(second) == ["locked", "rollback_issued"]
    # The issuer starts a new streak; the other one keeps meeting the cool-down lock.
    third = [(await m.check_all())[0].action for m in monitors]
    assert sorted(third) == ["breached", "locked"]
    assert len(sent) == 1
    cmd = verify(sent[0], HMAC_KEY, now=datetime.now(UTC))
    assert (cmd.action, cmd.target.version) == ("emergency_rollback", "1.0.0")
    assert cmd.issuer.startswith("monitor@w")
    assert cmd.target.figures is not None and cmd.target.figures["accuracy_n"] == 40
    assert cmd.target.reason is not None and "accuracy 0.2000 < 0.9" in cmd.target.reason


async def test_no_rollback_without_another_known_good(
    redis_client: Redis, redis_prefix: str
) -> None:
    settings = MonitorSettings(min_samples=1, hysteresis=1)
    windows = MetricWindows(redis_client, redis_prefix)
    store = VersionStore(redis_client, prefix=redis_prefix)
    good = VersionPointer("1.0.0", "/a", "a" * 64, "boot")
    await store.compare_and_set_active(DETECTOR, None, None, good)
    await store.mark_known_good(DETECTOR, None, good)
    await windows.record([(DETECTOR, "1.0.0", _figs(5, 50.0))])

    async def publish(raw: bytes) -> None:
        raise AssertionError("nothing to roll back to")

    mon = Monitor(
        worker_id="w1",
        settings=settings,
        windows=windows,
        store=store,
        registry=_registry("1.0.0"),
        key=HMAC_KEY,
        publish=publish,
    )
    (check,) = await mon.check_all()
    assert check.action == "no_known_good" and check.breaches[0].metric == "avg_latency_ms"


async def test_promote_refused_when_shadow_did_worse(
    redis_client: Redis, redis_prefix: str, tmp_path: object
) -> None:
    settings = MonitorSettings(min_samples=10)
    windows = MetricWindows(redis_client, redis_prefix)
    store = VersionStore(redis_client, prefix=redis_prefix)
    await _seed(store)
    cand, base = _figs(40, 3.0), _figs(40, 1.0)
    cand.confidence, cand.confidence_n = 0.6 * 40, 40
    base.confidence, base.confidence_n = 0.9 * 40, 40
    await windows.record(
        [
            (SHADOW, "1.2.0", cand),
            (BASELINE, "1.2.0", base),
            (SHADOW, "1.3.0", base),
            (BASELINE, "1.3.0", base),
        ]
    )
    why = await shadow_verdict(windows, settings, DETECTOR, "1.2.0")
    assert why is not None and "confidence 0.6000 < active 0.9000" in why and "latency" in why
    assert await shadow_verdict(windows, settings, DETECTOR, "1.3.0") is None
    assert await shadow_verdict(windows, settings, DETECTOR, "9.9.9") is None  # no data

    async def gate(component: str, pair: str | None, version: str) -> str | None:
        return await shadow_verdict(windows, settings, component, version)

    activator = Activator(
        worker_id="w1",
        store=store,
        registry=_registry("1.1.0"),
        root=ArtifactRoot(tmp_path),
        control=ControlSettings(control_hmac_key=HMAC_KEY.decode()),
        warmup=list,
        promote_gate=gate,
    )  # type: ignore[arg-type]
    event = await activator.handle(command("promote", {"version": "1.2.0"}))
    assert (event.outcome, event.reason) == ("rejected", "shadow_worse")
    assert "confidence" in (event.detail or "")
    (entry, *_) = await store.get_history(DETECTOR)
    assert (entry.action, entry.outcome, entry.reason) == ("promote", "rejected", "shadow_worse")
    assert orjson.loads(entry.to_json())["to_version"] == "1.2.0"
