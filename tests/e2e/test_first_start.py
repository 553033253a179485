"""A worker started as a new user starts it: no pointer in Redis, no artifact root, no version.

Each worker process gets only the broker, the Redis URL, the HMAC key and create-topics, plus
what keeps this test apart from the others of the session (its own topic names, group and
Redis prefix, tansu's short group timings, a metrics port). It runs in a directory of its own,
so the default artifact root (``checkpoints``) and data directory land there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr

from engine.artifacts import sidecar_digest
from engine.datasets.synthetic import generate
from engine.detection.default_model import DEFAULT_MODEL_VERSION, default_model_path
from streams.control.settings import RedisSettings
from streams.control.state import VersionStore
from tests.support.deployment import Deployment
from tests.support.paths import REPO_ROOT
from tests.support.stream import HMAC_KEY, TopicReader, produce, wait_for
from workers.devstack.probes import TopicSpec, create_topics, free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(180)]
SHIPPED_SHA256 = sidecar_digest(default_model_path())


@pytest.fixture
async def bare(
    kafka_bootstrap: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[Deployment]:
    """Workers with nothing but the settings a new user sets (``bare.start("w1")``)."""
    prefix = f"first{uuid.uuid4().hex[:8]}."
    topics = {n: f"{prefix}{n}" for n in ("raw", "results", "dlq", "control", "events")}
    await create_topics(kafka_bootstrap, [TopicSpec(name, 2) for name in topics.values()])
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CRONOS_")}
    # The process runs elsewhere than the repository: it must still import this checkout.
    path = os.pathsep.join(p for p in (str(REPO_ROOT), inherited.get("PYTHONPATH")) if p)
    env = inherited | {
        "PYTHONPATH": path,
        # What a user sets (README quick start):
        "CRONOS_KAFKA_BROKER": kafka_bootstrap,
        "CRONOS_REDIS_URL": redis_url,
        "CRONOS_CONTROL_HMAC_KEY": HMAC_KEY.decode(),
        "CRONOS_KAFKA_CREATE_TOPICS": "true",
        # Apart from the other tests of the session, and quick group joins on tansu:
        "CRONOS_KAFKA_TOPIC_RAW": topics["raw"],
        "CRONOS_KAFKA_TOPIC_RESULTS": topics["results"],
        "CRONOS_KAFKA_TOPIC_DLQ": topics["dlq"],
        "CRONOS_KAFKA_TOPIC_CONTROL": topics["control"],
        "CRONOS_KAFKA_TOPIC_CONTROL_EVENTS": topics["events"],
        "CRONOS_KAFKA_TOPIC_TRANSLATED_PREFIX": prefix,
        "CRONOS_KAFKA_GROUP_ID": f"{prefix}group",
        "CRONOS_REDIS_KEY_PREFIX": redis_prefix,
        "CRONOS_KAFKA_SESSION_TIMEOUT_S": "2",
        "CRONOS_KAFKA_HEARTBEAT_INTERVAL_S": "0.3",
        "CRONOS_KAFKA_REBALANCE_TIMEOUT_S": "2",
        "CRONOS_DETECTOR_THREADS": "1",
    }
    home = tmp_path / "home"
    home.mkdir()
    dep = Deployment(env, topics, tmp_path, cwd=home)
    try:
        yield dep
    finally:
        dep.stop_all()


def _home(dep: Deployment) -> Path:
    assert dep.cwd is not None
    return dep.cwd


def _store(dep: Deployment) -> VersionStore:
    return VersionStore.from_settings(
        RedisSettings(
            url=SecretStr(dep.env["CRONOS_REDIS_URL"]),
            key_prefix=dep.env["CRONOS_REDIS_KEY_PREFIX"],
        )
    )


def _with_port(dep: Deployment) -> str:
    port = free_port()
    dep.env["CRONOS_METRICS_PORT"] = str(port)
    return f"http://127.0.0.1:{port}"


async def _readyz(base: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return await http.get(f"{base}/readyz")
    except httpx.HTTPError:
        return None  # not listening yet


async def test_a_bare_worker_serves_frames_with_the_shipped_model(bare: Deployment) -> None:
    bare.start("w1")
    broker = bare.env["CRONOS_KAFKA_BROKER"]
    frames = [
        (b"plc", f.message, [("protocol", b"modbus"), ("frame-id", f"f{i}".encode())])
        for i, f in enumerate(generate("modbus", 20, seed=11))
    ]
    await produce(broker, bare.topics["raw"], frames)

    async with TopicReader(broker, bare.topics["results"]) as results:
        for _ in range(600):
            bare.check_alive()
            await results.poll(0.2)
            if len(results.records) >= 20:
                break
        else:
            raise AssertionError(bare.log("w1"))

    versions = {orjson.loads(r.value)["detector_version"] for r in results.records}
    assert versions == {DEFAULT_MODEL_VERSION}
    copy = _home(bare) / "checkpoints" / "field_detector" / default_model_path().name
    assert copy.read_bytes() == default_model_path().read_bytes()
    assert sidecar_digest(copy) == SHIPPED_SHA256
    store = _store(bare)
    try:
        pointer = await store.get_active("field_detector")
        assert pointer is not None and pointer.version == DEFAULT_MODEL_VERSION
        assert pointer.sha256 == SHIPPED_SHA256 and pointer.path == str(copy.resolve())
    finally:
        await store.aclose()


async def test_two_workers_starting_together_agree_on_one_pointer(bare: Deployment) -> None:
    bases = {}
    for worker_id in ("w1", "w2"):
        bases[worker_id] = _with_port(bare)
        bare.start(worker_id)

    async def both_ready() -> bool:
        bare.check_alive()
        answers = [await _readyz(base) for base in bases.values()]
        return all(a is not None and a.status_code == 200 for a in answers)

    await wait_for(both_ready, 150, "both workers ready")
    store = _store(bare)
    try:
        pointer = await store.get_active("field_detector")
        history = await store.get_history("field_detector")
    finally:
        await store.aclose()
    assert pointer is not None
    assert (pointer.version, pointer.sha256) == (DEFAULT_MODEL_VERSION, SHIPPED_SHA256)
    bootstraps = [h for h in history if h.action == "bootstrap"]
    assert len(bootstraps) == 1 and bootstraps[0].command_id == pointer.command_id
    async with httpx.AsyncClient(timeout=5) as http:
        for base in bases.values():
            active = (await http.get(f"{base}/status.json")).json()["active"]
            assert active["version"] == active["pointer"] == DEFAULT_MODEL_VERSION


async def test_with_seeding_off_and_nothing_to_load_the_worker_exits_naming_the_setting(
    bare: Deployment,
) -> None:
    bare.env["CRONOS_SEED_DEFAULT_MODEL"] = "false"
    proc = bare.start("w1")

    code = proc.wait(timeout=120)  # it must exit by itself; the timeout only bounds a hang

    assert code != 0
    log = bare.log("w1")
    assert "CRONOS_SEED_DEFAULT_MODEL" in log and "CRONOS_INITIAL_DETECTOR_VERSION" in log
    assert not (_home(bare) / "checkpoints" / "field_detector").exists()


async def test_readyz_says_why_while_the_worker_has_no_model(bare: Deployment) -> None:
    # A version that is not under the artifact root: the worker can load nothing.
    bare.env["CRONOS_INITIAL_DETECTOR_VERSION"] = "7.7.7"
    base = _with_port(bare)
    bare.start("w1")

    async def not_ready_with_reason() -> str | None:
        bare.check_alive()
        answer = await _readyz(base)
        return answer.text if answer is not None and answer.status_code == 503 else None

    async def said_why() -> str | None:
        text = await not_ready_with_reason()
        return text if text and "artifact_missing" in text else None

    text = await wait_for(said_why, 150, "/readyz with the reason")
    assert text.startswith("no detector: reconcile failed (artifact_missing)")
    # ... and the worker says it in its log, every few seconds, as a warning.
    await wait_for(
        lambda: bare.log("w1").count("not taking frames yet") >= 2, 60, "repeated warnings"
    )
    assert "WARNING" in bare.log("w1") and "7.7.7" in bare.log("w1")
