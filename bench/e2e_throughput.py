"""End-to-end throughput: a cronos worker against a bare faust agent and a raw aiokafka loop.

One run, one broker, the same pre-filled frames for every contender:

* **raw**: a plain aiokafka consume → produce loop (``acks=all``, batches of 512);
* **faust**: a bare faust agent with faust's defaults (``take_events(512, within=0.05)``,
  ``app.producer.send`` per event, acks awaited per batch), no ML;
* **cronos**: ``cronos worker`` processes with the shipped model and the default
  Modbus → MQTT rules, every other setting at its default.

Workloads (both from the captures in ``data/captures``):

* ``capture``: the ADUs of the real Modbus/TCP polling capture ``iti__ModbusTCP.pcap`` in
  capture order, with the headers ``cronos edge replay`` gives them (register-read responses
  routed to MQTT), repeated to ``--frames``;
* ``mixed``: distinct payloads of Modbus (every Modbus capture), DNS, NTP, NBNS and DHCP,
  shuffled (seed 0); only Modbus is routed to MQTT.

Each figure is frames/s between the first and the last outcome (broker timestamps of the
outcome records: a result or a dead letter for cronos, the copied record for the baselines).
The raw topic is filled before a contender starts. For 1 vs 2 cronos processes in one group,
both start together on the filled topic; ``steady`` is the rate between the 10th and 90th
percentile outcome, which leaves out the join and the tail. Latency: with one cronos worker
warm, frames are produced at half the rate it reached and p50/p99 taken from each frame's
produce call to the broker timestamp of its result (set when the worker's producer sends it;
the ack follows within a fraction of a millisecond on loopback). The bare faust agent is timed
the same way at the same rate, as the framework's own floor.

Kafka is ``$CRONOS_KAFKA_BROKER`` when set, else an embedded tansu; Redis is the dev stack's.

Run: ``.venv/bin/python bench/e2e_throughput.py [--frames 20000] [--workloads capture,mixed]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from engine.datasets.pcap_reader import ip_payload, iter_pcap  # noqa: E402
from engine.translation.pcap import captured_modbus_adus  # noqa: E402
from streams.edge.default_rules import RULES_VERSION, save_worker_rules  # noqa: E402
from streams.edge.raw_publisher import frame_headers  # noqa: E402
from streams.kafka import assign_all, ensure_topics  # noqa: E402
from streams.worker.results import Headers  # noqa: E402
from streams.worker.settings import KafkaSettings  # noqa: E402
from workers.devstack.demo import activate_rules, prepare_artifacts  # noqa: E402
from workers.devstack.stack import DevStack, DevStackConfig  # noqa: E402

CAPTURES = REPO / "data" / "captures"
PARTITIONS = 4
UDP_PROTOCOLS = ("dns", "ntp", "nbns", "dhcp")
IPPROTO_UDP = 17

Record = tuple[bytes | None, bytes, Headers]


# --- workloads -------------------------------------------------------------------------------


def _modbus_record(i: int, is_response: bool, adu: bytes, source: str) -> Record:
    translate = is_response and len(adu) > 7 and adu[7] in (3, 4)
    headers = frame_headers(
        protocol="modbus",
        source=source,
        direction="response" if is_response else "request",
        frame_id=f"f{i}",
        target="mqtt" if translate else None,
        captured_ns=1,
    )
    return None, adu, headers


def capture_workload(n: int) -> list[Record]:
    """``iti__ModbusTCP.pcap`` in capture order, repeated to ``n`` frames."""
    adus = list(captured_modbus_adus(CAPTURES / "modbus" / "iti__ModbusTCP.pcap"))
    return [
        _modbus_record(i, adus[i % len(adus)].is_response, adus[i % len(adus)].adu, "pcap")
        for i in range(n)
    ]


def _udp_payloads(path: Path) -> Iterator[bytes]:
    for rec in iter_pcap(path):
        ip = ip_payload(rec.data, rec.linktype)
        if ip is not None and ip.protocol == IPPROTO_UDP and len(ip.payload) > 8:
            yield ip.payload[8:]


def mixed_workload(n: int, seed: int = 0) -> list[Record]:
    """Distinct payloads of Modbus, DNS, NTP, NBNS and DHCP, shuffled; ``n`` of them."""
    items: list[tuple[str, bool, bytes]] = []
    seen: set[bytes] = set()
    for path in sorted((CAPTURES / "modbus").glob("*.pcap")):
        for adu in captured_modbus_adus(path):
            if adu.adu not in seen:
                seen.add(adu.adu)
                items.append(("modbus", adu.is_response, adu.adu))
    for proto in UDP_PROTOCOLS:
        for path in sorted((CAPTURES / proto).glob("*.pcap")):
            for payload in _udp_payloads(path):
                if payload not in seen:
                    seen.add(payload)
                    items.append((proto, False, payload))
    random.Random(seed).shuffle(items)
    if len(items) < n:
        raise SystemExit(f"only {len(items)} distinct payloads in the captures, {n} asked")
    records: list[Record] = []
    for i, (proto, is_response, data) in enumerate(items[:n]):
        if proto == "modbus":
            records.append(_modbus_record(i, is_response, data, "mixed"))
        else:
            headers = frame_headers(
                protocol=proto, source="mixed", direction="", frame_id=f"f{i}", captured_ns=1
            )
            records.append((None, data, headers))
    return records


# --- broker helpers --------------------------------------------------------------------------


async def produce(bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    """Produce every record (acks=all) and wait for all acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class Outcomes:
    """Outcome records read from some topics: broker timestamps (ms) and frame ids."""

    stamps: list[int] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    #: ``translated``, ``result`` or ``dead letter: <reason>`` → count (cronos outcomes).
    kinds: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        """One line: how many outcomes of each kind."""
        return ", ".join(f"{n:,} {kind}" for kind, n in self.kinds.most_common())

    def rate(self, lo: float = 0.0, hi: float = 1.0) -> float:
        """Frames/s between the outcomes at quantiles ``lo`` and ``hi`` (timestamp order)."""
        ts = sorted(self.stamps)
        a, b = int(lo * (len(ts) - 1)), int(hi * (len(ts) - 1))
        span = (ts[b] - ts[a]) / 1000.0
        return (b - a) / span if span > 0 else float("inf")


async def read_outcomes(
    bootstrap: str, topics: Sequence[str], expect: int, timeout_s: float, proc: Procs
) -> Outcomes:
    """Read ``topics`` from the beginning until ``expect`` records arrived."""
    out = Outcomes()
    consumers = []
    for topic in topics:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
        )
        await consumer.start()
        await assign_all(consumer, topic, seek="beginning", timeout_s=180)
        consumers.append(consumer)
    deadline = time.monotonic() + timeout_s
    try:
        while len(out.stamps) < expect:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"timed out: {len(out.stamps)} of {expect} outcomes:\n{proc.tail()}"
                )
            proc.check()
            for consumer in consumers:
                batches = await consumer.getmany(timeout_ms=50, max_records=5000)
                for records in batches.values():
                    for r in records:
                        out.stamps.append(r.timestamp)
                        out.kinds[_kind(r.headers, r.value)] += 1
                        fid = _frame_id(r.headers, r.value)
                        if fid:
                            out.ids[fid] = r.timestamp
    finally:
        for consumer in consumers:
            await consumer.stop()
    return out


def _kind(headers: Sequence[tuple[str, bytes]], value: bytes | None) -> str:
    error = dict(headers).get("error")
    if error is not None:
        return f"dead letter: {error.decode(errors='replace')}"
    if value and value[:1] == b"{" and b'"translation":null' not in value:
        return "translated"
    return "result"


def _frame_id(headers: Sequence[tuple[str, bytes]], value: bytes | None) -> str:
    for k, v in headers:
        if k == "frame-id":
            return v.decode(errors="replace")
    if value and value[:1] == b"{":
        with contextlib.suppress(ValueError):
            return str(json.loads(value).get("frame_id") or "")
    return ""


# --- contenders ------------------------------------------------------------------------------


@dataclass
class Procs:
    """Contender processes, their logs, and a check that they are still running."""

    logs: Path
    procs: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = self.logs / f"{name}-{len(self.procs)}.log"
        proc = subprocess.Popen(
            argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=REPO
        )
        self.procs.append((proc, log))

    def check(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"a contender exited with {proc.returncode}:\n{tail}")

    def tail(self) -> str:
        """The end of every contender's log."""
        return "\n".join(log.read_text(errors="replace")[-2000:] for _, log in self.procs)

    def stop(self) -> None:
        for proc, _ in self.procs:
            proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


@dataclass
class Cronos:
    """What every cronos worker of the run shares: Redis prefix, HMAC key, artifact root."""

    bootstrap: str
    redis_url: str
    state: Path
    prefix: str = field(default_factory=lambda: f"bench-e2e-{uuid.uuid4().hex[:8]}:")
    key: str = field(default_factory=lambda: secrets.token_hex(32))

    @property
    def topics(self) -> str:
        """Prefix of the run's control topics (the Redis prefix with a topic-safe separator)."""
        return self.prefix.replace(":", ".")

    @property
    def root(self) -> Path:
        return self.state / "artifacts"

    def env(self, raw: str, tag: str, worker: str, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("CRONOS_")}
        return (
            keep
            | {
                "CRONOS_KAFKA_BROKER": self.bootstrap,
                "CRONOS_KAFKA_GROUP_ID": f"cronos-{tag}",
                "CRONOS_KAFKA_TOPIC_RAW": raw,
                "CRONOS_KAFKA_TOPIC_RESULTS": f"{tag}.results",
                "CRONOS_KAFKA_TOPIC_DLQ": f"{tag}.dlq",
                "CRONOS_KAFKA_TOPIC_CONTROL": f"{self.topics}control",
                "CRONOS_KAFKA_TOPIC_CONTROL_EVENTS": f"{self.topics}events",
                "CRONOS_KAFKA_TOPIC_TRANSLATED_PREFIX": f"{tag}.",
                "CRONOS_KAFKA_CREATE_TOPICS": "true",
                # Short group timings so that a second worker's join costs seconds, not 30 s.
                "CRONOS_KAFKA_SESSION_TIMEOUT_S": "3",
                "CRONOS_KAFKA_HEARTBEAT_INTERVAL_S": "0.5",
                "CRONOS_KAFKA_REBALANCE_TIMEOUT_S": "3",
                "CRONOS_REDIS_URL": self.redis_url,
                "CRONOS_REDIS_KEY_PREFIX": self.prefix,
                "CRONOS_CONTROL_HMAC_KEY": self.key,
                "CRONOS_ARTIFACT_ROOT": str(self.root),
                "CRONOS_INITIAL_DETECTOR_VERSION": "1.0.0",
                "CRONOS_ROUTES": '{"modbus": "mqtt"}',
                "CRONOS_WORKER_ID": worker,
                "CRONOS_DATA_DIR": str(self.state / "data"),
            }
            | extra
        )

    async def prepare(self) -> None:
        """Artifacts, then the rules pointer set by a signed swap through a first worker.

        The measured workers then start with both pointers in Redis and reconcile to them
        before they read a frame.
        """
        print(await prepare_artifacts(self.root), flush=True)
        # The shipped default rules (raw register bytes to cronos/{unit}/fc{fc}), not the demo's
        # tag map, which needs the ingest's request headers that captured frames do not carry.
        save_worker_rules(self.root)
        tag = f"bench.setup.{uuid.uuid4().hex[:6]}"
        procs = Procs(self.state)
        procs.start(
            "setup",
            [sys.executable, "-m", "workers.cli.main", "worker"],
            self.env(f"{tag}.raw", tag, "setup"),
        )
        try:
            kafka = KafkaSettings(
                broker=self.bootstrap,
                topic_control=f"{self.topics}control",
                topic_control_events=f"{self.topics}events",
            )
            event = await activate_rules(kafka, self.key.encode(), self.root, RULES_VERSION)
            if event.get("outcome") != "applied":
                raise SystemExit(f"rules not activated: {event}")
        finally:
            procs.stop()


async def start_contender(
    name: str,
    bootstrap: str,
    raw: str,
    procs: Procs,
    cronos: Cronos,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> list[str]:
    """Start a contender's processes on ``raw``; returns its outcome topics."""
    tag = f"bench.{name}.{uuid.uuid4().hex[:6]}"
    if name == "cronos":
        for w in range(workers):
            env = cronos.env(raw, tag, f"{tag}-w{w}", **(extra_env or {}))
            procs.start(name, [sys.executable, "-m", "workers.cli.main", "worker"], env)
        return [f"{tag}.results", f"{tag}.dlq"]
    out = f"{tag}.out"
    await ensure_topics(bootstrap, {out: PARTITIONS})
    script = str(REPO / "bench" / "e2e_contenders.py")
    argv = [sys.executable, script, name, "--bootstrap", bootstrap, "--src", raw]
    procs.start(name, [*argv, "--dst", out, "--group", tag])
    return [out]


async def run_contender(
    name: str,
    bootstrap: str,
    raw: str,
    n: int,
    logs: Path,
    cronos: Cronos,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Outcomes:
    """Start a contender on the filled ``raw`` topic and read its ``n`` outcomes."""
    procs = Procs(logs)
    try:
        topics = await start_contender(name, bootstrap, raw, procs, cronos, workers, extra_env)
        return await read_outcomes(bootstrap, topics, n, timeout_s=max(120, n / 50), proc=procs)
    finally:
        procs.stop()


async def latency(
    name: str,
    bootstrap: str,
    cronos: Cronos,
    logs: Path,
    records: Sequence[Record],
    rate: float,
) -> tuple[float, float, float]:
    """p50/p99/max ms, produce call → outcome timestamp, at ``rate`` frames/s, warm contender."""
    raw = f"bench.lat.{uuid.uuid4().hex[:6]}.raw"
    await ensure_topics(bootstrap, {raw: PARTITIONS})
    procs = Procs(logs)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        topics = await start_contender(name, bootstrap, raw, procs, cronos)
        # Warm-up: the worker has joined and run a batch once the first outcomes come back.
        warm = [_renamed(r, f"w{i}") for i, r in enumerate(records[:200])]
        await asyncio.gather(*[await producer.send(raw, v, key=k, headers=h) for k, v, h in warm])
        await read_outcomes(bootstrap, topics, len(warm), 120, procs)
        sent: dict[str, float] = {}
        tick = 0.01
        per_tick = max(1, round(rate * tick))
        start = time.monotonic()
        pending = []
        for i in range(0, len(records), per_tick):
            for k, v, h in records[i : i + per_tick]:
                sent[_frame_id(h, None)] = time.time()
                pending.append(await producer.send(raw, v, key=k, headers=h))
            ahead = start + (i + per_tick) / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        await asyncio.gather(*pending)
        got = await read_outcomes(bootstrap, topics, len(warm) + len(records), 300, procs)
    finally:
        await producer.stop()
        procs.stop()
    lat = sorted(max(0.0, got.ids[fid] - sent[fid] * 1000.0) for fid in sent if fid in got.ids)
    if len(lat) < len(sent):
        print(f"  (latency: {len(sent) - len(lat)} frames without a frame id on their outcome)")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return statistics.median(lat), p99, lat[-1]


def _renamed(record: Record, frame_id: str) -> Record:
    key, value, headers = record
    return key, value, [(k, frame_id.encode() if k == "frame-id" else v) for k, v in headers]


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace, bootstrap: str, redis_url: str, state: Path) -> dict:
    cronos = Cronos(bootstrap, redis_url, state)
    await cronos.prepare()
    report: dict = {"frames": args.frames, "workloads": {}}
    builders = {"capture": capture_workload, "mixed": mixed_workload}
    for workload in args.workloads:
        records = builders[workload](args.frames)
        raw = f"bench.raw.{workload}.{uuid.uuid4().hex[:6]}"
        await ensure_topics(bootstrap, {raw: PARTITIONS})
        t0 = time.perf_counter()
        await produce(bootstrap, raw, records)
        print(f"\n[{workload}] {len(records):,} frames filled in {time.perf_counter() - t0:.1f} s")
        rows: dict[str, dict[str, float]] = {}
        for name in args.contenders:
            got = await run_contender(name, bootstrap, raw, len(records), state, cronos)
            rows[name] = {"rate": got.rate(), "steady": got.rate(0.1, 0.9)}
            print(f"  {name:<8} {rows[name]['rate']:>9,.0f} frames/s", flush=True)
            if name == "cronos":
                print(f"           outcomes: {got.describe()}", flush=True)
        for label, env in args.variant:
            got = await run_contender("cronos", bootstrap, raw, len(records), state, cronos, 1, env)
            rows[f"cronos {label}"] = {"rate": got.rate(), "steady": got.rate(0.1, 0.9)}
            print(f"  cronos {label}: {rows[f'cronos {label}']['rate']:,.0f} frames/s", flush=True)
        if 2 in args.workers and "cronos" in args.contenders:
            got = await run_contender("cronos", bootstrap, raw, len(records), state, cronos, 2)
            rows["cronos x2"] = {"rate": got.rate(), "steady": got.rate(0.1, 0.9)}
            print(f"  cronos x2 {rows['cronos x2']['rate']:>8,.0f} frames/s", flush=True)
        report["workloads"][workload] = rows
        _table(workload, rows)
        if args.latency and "cronos" in rows:
            rate = rows["cronos"]["rate"] / 2
            n = min(len(records), max(2000, int(rate * args.latency_s)))
            fresh = [_renamed(r, f"l{i}") for i, r in enumerate(records[:n])]
            for name in [c for c in ("faust", "cronos") if c in rows]:
                p50, p99, worst = await latency(name, bootstrap, cronos, state, fresh, rate)
                report["workloads"][workload][f"latency {name}"] = {
                    "rate": rate,
                    "frames": n,
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "max_ms": worst,
                }
                print(
                    f"  latency of {name} at {rate:,.0f} frames/s (half of cronos), {n:,} frames:"
                    f" p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {worst:.1f} ms"
                )
    return report


def _table(workload: str, rows: dict[str, dict[str, float]]) -> None:
    base_a = rows.get("raw", {}).get("rate")
    base_b = rows.get("faust", {}).get("rate")
    print(f"\n  | {workload} | frames/s | steady (p10–p90) | vs faust | vs raw |")
    print("  |---|---|---|---|---|")
    for name, row in rows.items():
        vb = f"{row['rate'] / base_b:.2f}×" if base_b else "–"
        va = f"{row['rate'] / base_a:.2f}×" if base_a else "–"
        print(f"  | {name} | {row['rate']:,.0f} | {row['steady']:,.0f} | {vb} | {va} |")


def _variant(text: str) -> tuple[str, dict[str, str]]:
    label, _, pairs = text.partition(":")
    env = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    return label, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--workloads", default="capture,mixed", type=lambda s: s.split(","))
    parser.add_argument("--contenders", default="raw,faust,cronos", type=lambda s: s.split(","))
    parser.add_argument(
        "--workers",
        default="1,2",
        type=lambda s: [int(x) for x in s.split(",")],
        help="cronos process counts to run (1 always runs as a contender)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        type=_variant,
        help="an extra cronos row with settings, e.g. depth1:CRONOS_PIPELINE_DEPTH=1 (repeatable)",
    )
    parser.add_argument("--no-latency", dest="latency", action="store_false")
    parser.add_argument("--latency-s", type=float, default=10.0, help="seconds of paced load")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cronos-e2e-")))
        bootstrap = os.environ.get("CRONOS_KAFKA_BROKER")
        dev = DevStack(DevStackConfig(kafka_port=0, state_dir=state / "dev", topics=()))
        endpoints = dev.start()
        stack.callback(dev.stop)
        bootstrap = bootstrap or endpoints.kafka_bootstrap
        report = asyncio.run(run(args, bootstrap, endpoints.redis_url, state))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
