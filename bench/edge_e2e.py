"""End to end at the edge: simulated Modbus device → ingest → Kafka → translation → Kafka →
MQTT sink → Mosquitto → subscriber. Prints frames/s from device to subscriber and p50/p99 latency.

Latency is measured per message, from the moment the simulated device answers a read (its first
register carries the read counter) to the moment the subscriber receives it. Translation runs
in-process with the default modbus->mqtt rules (the engine code the worker runs), without field
detection: this measures the edge adapters and brokers, not the detector. Kafka is
``$CRONOS_KAFKA_BROKER`` when set, else an embedded tansu; MQTT is a mosquitto of its own.

Run: ``.venv/bin/python bench/edge_e2e.py [--seconds 5] [--interval-ms 0]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.edge.modbus_ingest import ModbusIngest, parse_poll
from streams.edge.mqtt_client import MqttLink
from streams.edge.mqtt_sink import MqttSink
from streams.edge.mqtt_subscriber import MqttSubscriber
from streams.edge.raw_publisher import RawPublisher
from streams.edge.settings import IngestSettings, MqttSettings, SinkSettings
from streams.worker.settings import KafkaSettings
from workers.devstack.modbus_sim import ModbusSimulator, register_value
from workers.devstack.mqtt_broker import MqttBroker, MqttBrokerConfig
from workers.devstack.probes import create_topics
from workers.devstack.relay import translate_raw
from workers.devstack.stack import DevStack, DevStackConfig, TopicSpec


async def run(bootstrap: str, mqtt_port: int, seconds: float, interval_ms: float) -> None:
    tag = uuid.uuid4().hex[:8]
    raw, out, dlq = f"bench.raw.{tag}", f"bench.mqtt.{tag}", f"bench.dlq.{tag}"
    await create_topics(bootstrap, [TopicSpec(raw, 1), TopicSpec(out, 1), TopicSpec(dlq, 1)])
    read_at: dict[int, int] = {}  # read counter -> device time (ns)

    def on_read(unit: int, fc: int, address: int, registers: list[int]) -> None:
        read_at[registers[0]] = time.time_ns()

    kafka = KafkaSettings(
        broker=bootstrap, session_timeout_s=2.0, heartbeat_interval_s=0.3, rebalance_timeout_s=2.0
    )
    sink = MqttSink(
        kafka,
        SinkSettings(topic=out, dlq_topic=dlq, group_id=f"bench-{tag}"),
        MqttLink(MqttSettings(port=mqtt_port)),
    )
    async with (
        ModbusSimulator(port=0, units=(1,), on_read=on_read) as sim,
        MqttSubscriber(mqtt_port) as sub,
    ):
        tasks = [
            asyncio.create_task(translate_raw(bootstrap, raw, out)),
            asyncio.create_task(sink.run()),
        ]
        publisher = RawPublisher(bootstrap, raw)
        await publisher.start()
        stop = asyncio.Event()
        spec = parse_poll(f"hr:0-9@{interval_ms}ms" if interval_ms else "hr:0-9@0.001ms")
        ingest = ModbusIngest(
            "127.0.0.1", sim.port, 1, [spec], publisher, IngestSettings(topic=raw)
        )
        # Warm-up: slow polls until one arrives, so the sink's group join and the first
        # fetches are behind us; only reads after ``start`` count.
        warm_stop = asyncio.Event()
        warm_ingest = ModbusIngest(
            "127.0.0.1",
            sim.port,
            1,
            [parse_poll("hr:0-9@100ms")],
            publisher,
            IngestSettings(topic=raw),
        )
        warming = asyncio.create_task(warm_ingest.run(warm_stop))
        while not sub.messages:
            await asyncio.sleep(0.01)
        warm_stop.set()
        await warming
        await asyncio.sleep(0.3)
        warm = len(sub.messages)
        start = time.time_ns()
        polling = asyncio.create_task(ingest.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await polling
        await publisher.stop()
        polls = ingest.stats.polls_ok
        deadline = time.monotonic() + 30
        while len(sub.messages) < warm + polls and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        pairs = zip(sub.arrived_ns, sub.messages, strict=True)
        arrivals = [(t, p) for t, (_, p) in list(pairs)[warm:]]
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    base = register_value(1, 3, 0)
    latencies = []
    for t_arrival, payload in arrivals:
        reads = (int.from_bytes(payload[:2], "big") - base) & 0xFFFF
        t_read = read_at.get(register_value(1, 3, 0, reads))
        if t_read is not None:
            latencies.append((t_arrival - t_read) / 1e6)
    latencies.sort()
    span_s = (arrivals[-1][0] - start) / 1e9 if arrivals else float("nan")
    print(
        f"Modbus FC3 (10 registers) → MQTT, {seconds:.0f} s of polling, "
        f"interval {interval_ms or 'none (back to back)'} ms"
    )
    print(f"  device reads            : {polls}")
    print(f"  messages at subscriber  : {len(arrivals)} (unique {len({p for _, p in arrivals})})")
    print(f"  frames/s device→sub     : {len(arrivals) / span_s:8.1f}")
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"  latency p50 / p99 / max : {statistics.median(latencies):6.2f} / {p99:6.2f} / "
            f"{latencies[-1]:6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval-ms", type=float, default=0.0)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        state = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bootstrap = os.environ.get("CRONOS_KAFKA_BROKER")
        if not bootstrap:
            config = DevStackConfig(
                kafka_port=0, state_dir=state / "dev", topics=(), force_embedded_redis=False
            )
            dev = DevStack(config)
            bootstrap = dev.start().kafka_bootstrap
            stack.callback(dev.stop)
        broker = MqttBroker(MqttBrokerConfig(port=0, state_dir=state / "mqtt"))
        broker.start()
        stack.callback(broker.stop)
        asyncio.run(run(bootstrap, broker.port, args.seconds, args.interval_ms))


if __name__ == "__main__":
    main()
