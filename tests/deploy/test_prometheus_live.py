"""A real Prometheus scrapes a running worker and answers every query of deploy/.

The worker is configured so that every figure the dashboard and the alerts read exists: a
validation set (accuracy, pass rate), a shadow candidate (shadow frames, agreement), translation
rules (latency; some generated frames are untranslatable, so dead letters too), one oversized
frame (a dead letter of another reason), and a detector latency threshold no model meets, so
that the monitor breaches; a signed ``swap`` to 1.1.0 is then rolled back by the monitor
(``cronos_auto_rollbacks_total``, ``cronos_model_swaps_total``). Each dashboard query, and each
alert's figure (its expression without the threshold comparison), must return a series; each
full alert expression must parse, and Prometheus must report every rule evaluated without error.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

import orjson
import pytest

from engine.datasets.synthetic import generate
from engine.detection.dataset import save_jsonl
from streams.control.artifact_root import ArtifactRoot
from streams.control.command import new_command
from streams.edge.default_rules import save_worker_rules
from tests.deploy.promql import (
    PROMETHEUS,
    PrometheusServer,
    Query,
    alert_rules,
    dashboard_queries,
    scrape_config,
    split_threshold,
)
from tests.support.deployment import Deployment
from tests.support.stream import HMAC_KEY, TopicReader, command, produce
from workers.devstack.probes import TopicSpec, create_topics, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary (make deps installs it)"),
]
PAIR = "modbus->mqtt"


def _live_queries() -> list[Query]:
    """Dashboard queries, and each alert's figure.

    The figure of ``<figure> <op> <number>`` is what it compares; an alert of another shape
    (CronosAutoRollback) is asked as it is: this test's traffic makes it fire.
    """
    out = dashboard_queries()
    for name, rule in alert_rules().items():
        try:
            figure, _, _ = split_threshold(rule["expr"])
        except ValueError:
            out.append(Query(f"alert {name}", rule["expr"]))
        else:
            out.append(Query(f"alert {name} (figure)", figure))
    return out


async def _feed(broker: str, topic: str, stop: asyncio.Event) -> None:
    """Produce modbus frames, routed to MQTT, every half second until ``stop``."""
    seed = 100
    while not stop.is_set():
        frames = generate("modbus", 8, seed=seed)
        headers = [("protocol", b"modbus"), ("target", b"mqtt")]
        await produce(broker, topic, [(b"plc", f.message, headers) for f in frames])
        seed += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def _artifacts(shared: Path, dest: Path) -> Path:
    """The shared detectors 1.0.0 / 1.1.0 plus the default modbus->mqtt rules, in ``dest``."""
    shutil.copytree(shared, dest)
    save_worker_rules(dest)
    return dest


def _rules_swap(root: Path) -> bytes:
    _, sha = ArtifactRoot(root).resolve_verified("translation_rules", "1.0.0", PAIR)
    target = {"version": "1.0.0", "pair": PAIR, "sha256": sha}
    return new_command("swap", "translation_rules", target, "tests@ci", HMAC_KEY)[1]


async def test_every_dashboard_and_alert_query_returns_series(
    deployment: Deployment, artifact_root: Path, tmp_path: Path
) -> None:
    dep, t = deployment, deployment.topics
    broker = dep.env["CRONOS_KAFKA_BROKER"]
    root = _artifacts(artifact_root, tmp_path / "artifacts")
    validation = tmp_path / "validation.jsonl"
    save_jsonl(generate("modbus", 40, seed=11), validation)
    prefix = f"{t['raw']}.out."
    await create_topics(broker, [TopicSpec(f"{prefix}mqtt", 1)])
    metrics_port = free_port()
    dep.env |= {
        "CRONOS_ARTIFACT_ROOT": str(root),
        "CRONOS_KAFKA_TOPIC_TRANSLATED_PREFIX": prefix,
        "CRONOS_METRICS_HOST": "127.0.0.1",
        "CRONOS_METRICS_PORT": str(metrics_port),
        "CRONOS_VALIDATION_SET": str(validation),
        "CRONOS_MONITOR_VALIDATION_INTERVAL_S": "2",
        "CRONOS_MONITOR_SHADOW_VERSION": "1.1.0",
        "CRONOS_MONITOR_SHADOW_SAMPLE_RATE": "1",
        "CRONOS_MONITOR_CHECK_INTERVAL_S": "1",
        "CRONOS_MONITOR_WINDOW_S": "20",
        "CRONOS_MONITOR_BUCKET_S": "2",
        "CRONOS_MONITOR_MIN_SAMPLES": "5",
        "CRONOS_MONITOR_HYSTERESIS": "1",
        # No detector meets 1 µs a frame: every check breaches, and 1.1.0 is rolled back.
        "CRONOS_MONITOR_DETECTOR_MAX_LATENCY_MS": "0.001",
    }
    dep.start("w1")
    stop = asyncio.Event()
    feeder: asyncio.Task[None] | None = None
    prom = PrometheusServer(scrape_config(f"127.0.0.1:{metrics_port}"), tmp_path / "prometheus")
    try:
        prom.wait_ready()
        async with TopicReader(broker, t["events"]) as events:
            # A command sent before the worker's start-up reconcile is only reconciled.
            for _ in range(600):
                dep.check_alive()
                await events.poll(0.2)
                if events.records:
                    break
            else:
                raise AssertionError(dep.log("w1"))
            await produce(broker, t["control"], [(None, _rules_swap(root), [])])
            await produce(broker, t["raw"], [(b"k", b"\x01" * 600, [])])  # oversized_frame
            feeder = asyncio.create_task(_feed(broker, t["raw"], stop))
            await produce(broker, t["control"], [(None, command("swap", {"version": "1.1.0"}), [])])

            queries = _live_queries()
            empty = queries
            deadline = time.monotonic() + 240
            while empty and time.monotonic() < deadline:
                dep.check_alive()
                await events.poll(1.0)
                empty = [q for q in queries if not prom.query(q.expr)]
            handled = [orjson.loads(r.value) for r in events.records]
            # The full alert expressions parse (a figure below its threshold gives no series).
            for rule in alert_rules().values():
                prom.query(rule["expr"])
            rules = prom.api("rules")
    finally:
        stop.set()
        if feeder is not None:
            await feeder
        prom.close()
    shown = "\n".join(f"  {q.where}: {q.expr}" for q in empty)
    seen = [(e.get("action"), e.get("component"), e.get("outcome")) for e in handled]
    assert not empty, f"no series for:\n{shown}\nevents {seen}\n{dep.log('w1')}"

    evaluated = {r["name"]: r for g in rules["groups"] for r in g["rules"]}
    assert set(evaluated) == set(alert_rules())
    broken = {n: r["lastError"] for n, r in evaluated.items() if r["health"] != "ok"}
    assert not broken, broken
