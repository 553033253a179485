"""The whole loop with the real worker process: device → ingest → worker → sink → subscriber."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.control.artifact_root import ArtifactRoot
from streams.edge.default_rules import save_worker_rules
from streams.edge.modbus_ingest import ModbusIngest, parse_poll
from streams.edge.mqtt_sink import MqttSink
from streams.edge.mqtt_subscriber import MqttSubscriber
from streams.edge.raw_publisher import RawPublisher
from streams.edge.settings import IngestSettings
from tests.streams.edge.conftest import EdgeTopics
from tests.support.deployment import worker_env as deployment_env
from tests.support.edge import block, read_all, wait_for
from tests.support.stream import HMAC_KEY, TopicReader, produce
from workers.devstack.modbus_sim import ModbusSimulator
from workers.devstack.mqtt_broker import MqttBroker
from workers.devstack.probes import TopicSpec, create_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
WORKER_CMD = "from workers.process import run_worker; run_worker(loglevel='warning')"


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny detector 1.0.0 (one quick epoch: detection quality is not under test here) and
    the default modbus->mqtt rules, laid out as the worker's artifact root."""
    from engine.core.config import Config, DetectorSettings
    from engine.datasets.synthetic import generate
    from engine.detection.field_detector import FieldDetector

    root = tmp_path_factory.mktemp("edge-artifacts")
    frames = generate("modbus", 40, seed=1)
    settings = DetectorSettings(
        version="1.0.0", embedding_dim=8, hidden_size=8, num_layers=1, device="cpu"
    )
    detector = FieldDetector(Config(detector=settings))
    detector.train(frames[:32], frames[32:], num_epochs=1, batch_size=16)
    out = root / "field_detector"
    out.mkdir()
    asyncio.run(detector.save_model(out / "field_detector_v1.0.0_latest.pt"))
    save_worker_rules(root)
    return root


@pytest.fixture
def worker_env(
    kafka_bootstrap: str, redis_url: str, redis_prefix: str, artifacts: Path, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """Environment of one worker deployment on topics of its own (prefix ``e2e<hex>.``)."""
    prefix = f"e2e{uuid.uuid4().hex[:8]}."
    names = ("raw", "results", "dlq", "control", "events")
    env = deployment_env(
        bootstrap=kafka_bootstrap,
        group=f"{prefix}worker",
        topics={name: f"{prefix}{name}" for name in names},
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        hmac_key=HMAC_KEY,
        artifact_root=artifacts,
        data_dir=tmp_path / "data",
        CRONOS_KAFKA_TOPIC_TRANSLATED_PREFIX=prefix,
        CRONOS_KAFKA_CREATE_TOPICS="true",
        CRONOS_KAFKA_TOPIC_PARTITIONS="1",
        CRONOS_BATCH_WINDOW_S="0.05",
        CRONOS_WORKER_ID="edge-w1",
    )
    yield env


async def test_real_worker_translates_polled_blocks_to_mqtt(
    worker_env: dict[str, str],
    mqtt_broker: MqttBroker,
    make_sink: Callable[..., MqttSink],
    kafka_bootstrap: str,
    tmp_path: Path,
    background: Callable[[Awaitable[Any]], asyncio.Task[Any]],
) -> None:
    from streams.control.command import new_command

    env = worker_env
    prefix = env["CRONOS_KAFKA_TOPIC_TRANSLATED_PREFIX"]
    topics = EdgeTopics(
        env["CRONOS_KAFKA_TOPIC_RAW"], f"{prefix}mqtt", env["CRONOS_KAFKA_TOPIC_DLQ"]
    )
    names = [v for k, v in env.items() if k.startswith("CRONOS_KAFKA_TOPIC_") and "PREFIX" not in k]
    await create_topics(kafka_bootstrap, [TopicSpec(n, 1) for n in [*names, topics.mqtt]])
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER_CMD], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        # Translation rules are activated the production way: a signed swap command, bound to
        # the bytes of the rules file.
        _, rules_sha = ArtifactRoot(Path(env["CRONOS_ARTIFACT_ROOT"])).resolve_verified(
            "translation_rules", "1.0.0", "modbus->mqtt"
        )
        _, cmd = new_command(
            "swap",
            "translation_rules",
            {"version": "1.0.0", "pair": "modbus->mqtt", "sha256": rules_sha},
            "tests@ci",
            HMAC_KEY,
        )
        async with TopicReader(kafka_bootstrap, env["CRONOS_KAFKA_TOPIC_CONTROL_EVENTS"]) as ev:
            # A command issued before the worker has caught up is only reconciled, not applied:
            # wait for its start-up reconcile event first.
            await ev.until(lambda rs: len(rs) >= 1, timeout_s=60)
            await produce(kafka_bootstrap, env["CRONOS_KAFKA_TOPIC_CONTROL"], [(None, cmd, [])])
            cmd_id = orjson.loads(cmd)["id"]
            records = await ev.until(
                lambda rs: any(orjson.loads(r.value).get("command_id") == cmd_id for r in rs),
                timeout_s=60,
            )
        events = [orjson.loads(r.value) for r in records]
        event = next(e for e in events if e.get("command_id") == cmd_id)
        assert event["outcome"] == "applied", event

        sink = make_sink(topic=topics.mqtt, dlq_topic=topics.dlq)
        async with (
            ModbusSimulator(port=0, units=(1,), changing=False) as sim,
            MqttSubscriber(mqtt_broker.port) as sub,
        ):
            background(sink.run())
            publisher = RawPublisher(kafka_bootstrap, topics.raw)
            await publisher.start()
            stop = asyncio.Event()
            ingest = ModbusIngest(
                "127.0.0.1",
                sim.port,
                1,
                [parse_poll("hr:0-9@50ms"), parse_poll("ir:0-1@50ms")],
                publisher,
                IngestSettings(topic=topics.raw),
            )
            run = background(ingest.run(stop))
            await wait_for(lambda: ingest.stats.polls_ok >= 10, what="polls")
            stop.set()
            await run
            await publisher.stop()
            polls = ingest.stats.polls_ok
            try:
                await wait_for(lambda: len(sub.messages) >= polls, timeout_s=30, what="mqtt")
            except AssertionError as exc:
                res = await read_all(kafka_bootstrap, env["CRONOS_KAFKA_TOPIC_RESULTS"], 999, 3)
                dlq = await read_all(kafka_bootstrap, topics.dlq, 999, 2)
                out = await read_all(kafka_bootstrap, topics.mqtt, 999, 2)
                why = [dict(r.headers).get("detail") for r in dlq][:3]
                raise AssertionError(
                    f"results {len(res)} dlq {len(dlq)} {why} out {len(out)} "
                    f"sub {len(sub.messages)} sink {sink.delivered}"
                ) from exc
        expected = {"cronos/1/fc3": block(1, 3, 0, 10), "cronos/1/fc4": block(1, 4, 0, 2)}
        assert {t for t, _ in sub.messages} == set(expected)
        assert all(payload == expected[t] for t, payload in sub.messages)
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
