"""Edge commands: ``cronos ingest modbus``, ``send``, ``mqtt tail|sink``, ``sim modbus``.

Options override the environment the settings read (``CRONOS_KAFKA_BROKER``, ``CRONOS_MQTT_*``,
``CRONOS_SINK_*``, ``CRONOS_MODBUS_*``), so a command line and a deployment share one validation.
Passwords are read from the environment only (``CRONOS_MQTT_PASSWORD``), never from options that
would show in ``ps``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console(stderr=True)
ingest_app = typer.Typer(help="Read frames from devices into Kafka.", no_args_is_help=True)
mqtt_app = typer.Typer(help="MQTT egress: the sink, and a live subscriber.", no_args_is_help=True)
sim_app = typer.Typer(help="Simulated devices.", no_args_is_help=True)
BROKER = typer.Option(None, "--broker", help="Kafka; overrides CRONOS_KAFKA_BROKER.")
METRICS_PORT = typer.Option(0, "--metrics-port", help="Prometheus port (0: off).")
METRICS_HOST = typer.Option(
    "127.0.0.1",
    "--metrics-host",
    envvar="CRONOS_METRICS_HOST",
    help="Address the Prometheus port binds (0.0.0.0: every interface).",
)


def _env(**values: object) -> None:
    for name, value in values.items():
        if value is not None:
            os.environ[name] = str(value)


def _run(main: Coroutine[Any, Any, Any], stop: asyncio.Event | None = None) -> Any:
    """Run ``main`` until it ends or SIGINT/SIGTERM sets ``stop`` (or cancels it)."""

    async def wrapper() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(main)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set if stop is not None else task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            return await task

    return asyncio.run(wrapper())


def _serve_metrics(port: int, host: str) -> None:
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=host)
        console.print(f"metrics on {host}:{port}/metrics")


@ingest_app.command("modbus")
def ingest_modbus(
    host: str = typer.Option("127.0.0.1", "--host", help="Device address."),
    port: int = typer.Option(502, "--port", help="Device port."),
    unit: int = typer.Option(1, "--unit", help="Unit (device) id."),
    poll: list[str] = typer.Option(..., "--poll", help="KIND:START[-END][@N(ms|s|m)], repeatable"),
    broker: str = BROKER,
    topic: str = typer.Option(None, "--topic", help="Overrides CRONOS_MODBUS_TOPIC."),
    source: str = typer.Option(None, "--source", help="Source id (default modbus://H:P/U)."),
    target: str = typer.Option(None, "--target", help="Translation target of responses."),
    metrics_port: int = METRICS_PORT,
    metrics_host: str = METRICS_HOST,
) -> None:
    """Poll a Modbus/TCP device and publish each request and response frame to Kafka."""
    from streams.edge.modbus_ingest import ModbusIngest, parse_poll
    from streams.edge.raw_publisher import RawPublisher
    from streams.edge.settings import IngestSettings
    from streams.worker.settings import KafkaSettings

    try:
        polls = [parse_poll(p) for p in poll]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--poll") from exc
    _env(
        CRONOS_KAFKA_BROKER=broker,
        CRONOS_MODBUS_TOPIC=topic,
        CRONOS_MODBUS_SOURCE=source,
        CRONOS_MODBUS_TARGET=target,
    )
    settings, kafka = IngestSettings(), KafkaSettings()
    _serve_metrics(metrics_port, metrics_host)
    stop = asyncio.Event()

    async def main() -> None:
        publisher = RawPublisher(kafka.bootstrap_servers, settings.topic, kafka.client_auth())
        await publisher.start()
        ingest = ModbusIngest(host, port, unit, polls, publisher, settings)
        console.print(f"polling {ingest.source} → {settings.topic} ({len(polls)} blocks)")
        try:
            await ingest.run(stop)
        finally:
            await publisher.stop()
            s = ingest.stats
            console.print(
                f"polls ok {s.polls_ok}, failed {s.polls_failed}, connects "
                f"{s.connects}, frames {publisher.sent}"
            )

    _run(main(), stop)


def send(
    capture: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .pcap file."),
    speed: float = typer.Option(1.0, "--speed", help="1.0 = captured timing, 2.0 = twice as fast."),
    fast: bool = typer.Option(False, "--fast", help="As fast as possible (ignores --speed)."),
    port: int = typer.Option(502, "--port", help="Modbus server port in the capture."),
    broker: str = BROKER,
    topic: str = typer.Option("cronos.frames.raw", "--topic", help="Raw frames topic."),
    target: str = typer.Option("mqtt", "--target", help="Target of read responses ('' none)."),
) -> None:
    """Replay a Modbus/TCP capture into Kafka with its original timing or as fast as possible."""
    from streams.edge.pcap_replay import replay
    from streams.edge.raw_publisher import RawPublisher
    from streams.worker.settings import KafkaSettings

    _env(CRONOS_KAFKA_BROKER=broker)
    kafka = KafkaSettings()

    async def main() -> int:
        publisher = RawPublisher(kafka.bootstrap_servers, topic, kafka.client_auth())
        await publisher.start()
        try:
            return await replay(
                capture, publisher, speed=None if fast else speed, port=port, target=target or None
            )
        finally:
            await publisher.stop()

    count = _run(main())
    console.print(f"sent {count or 0} frames from {capture} to {topic}")


@mqtt_app.command("sink")
def mqtt_sink(
    broker: str = BROKER,
    mqtt_host: str = typer.Option(None, "--mqtt-host", help="Overrides CRONOS_MQTT_HOST."),
    mqtt_port: int = typer.Option(None, "--mqtt-port", help="Overrides CRONOS_MQTT_PORT."),
    topic: str = typer.Option(None, "--topic", help="Translated topic; CRONOS_SINK_TOPIC."),
    qos: int = typer.Option(None, "--qos", help="1 or 2; overrides CRONOS_SINK_QOS."),
    retain: bool = typer.Option(None, "--retain/--no-retain", help="Default: the packet's flag."),
    metrics_port: int = METRICS_PORT,
    metrics_host: str = METRICS_HOST,
) -> None:
    """Publish translated frames to an MQTT broker; commit each offset after its PUBACK."""
    from streams.edge.mqtt_client import MqttLink
    from streams.edge.mqtt_sink import MqttSink
    from streams.edge.settings import MqttSettings, SinkSettings
    from streams.worker.settings import KafkaSettings

    _env(
        CRONOS_KAFKA_BROKER=broker,
        CRONOS_MQTT_HOST=mqtt_host,
        CRONOS_MQTT_PORT=mqtt_port,
        CRONOS_SINK_TOPIC=topic,
        CRONOS_SINK_QOS=qos,
        CRONOS_SINK_RETAIN=None if retain is None else str(retain).lower(),
    )
    mqtt, sink, kafka = MqttSettings(), SinkSettings(), KafkaSettings()
    _serve_metrics(metrics_port, metrics_host)
    stop = asyncio.Event()
    link = MqttLink(mqtt, backoff_s=sink.backoff_s, max_backoff_s=sink.max_backoff_s)
    runner = MqttSink(kafka, sink, link)
    console.print(f"sink {sink.topic} → {mqtt.describe()} (QoS {sink.qos})")
    _run(runner.run(stop), stop)
    console.print(f"delivered {runner.delivered}, dead-lettered {runner.dead_lettered}")


@mqtt_app.command("tail")
def mqtt_tail(
    topic: list[str] = typer.Option(["#"], "--topic", "-t", help="Filter, repeatable."),
    host: str = typer.Option(None, "--host", help="Overrides CRONOS_MQTT_HOST."),
    port: int = typer.Option(None, "--port", help="Overrides CRONOS_MQTT_PORT."),
    count: int = typer.Option(0, "--count", "-n", help="Stop after N messages (0: never)."),
) -> None:
    """Subscribe and print messages as they arrive: topic, QoS, retain, payload."""
    import aiomqtt

    from streams.edge.mqtt_client import client_kwargs
    from streams.edge.settings import MqttSettings

    _env(CRONOS_MQTT_HOST=host, CRONOS_MQTT_PORT=port)
    mqtt = MqttSettings()
    out = Console()

    async def main() -> None:
        seen = 0
        async with aiomqtt.Client(**client_kwargs(mqtt)) as client:
            for t in topic:
                await client.subscribe(t, qos=1)
            console.print(f"tailing {', '.join(topic)} on {mqtt.describe()}")
            async for msg in client.messages:
                payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload)
                out.print(
                    f"[cyan]{msg.topic}[/] q{msg.qos}{' R' if msg.retain else ''} {_show(payload)}",
                    highlight=False,
                )
                seen += 1
                if count and seen >= count:
                    return

    _run(main())


def _show(payload: bytes | str) -> str:
    if isinstance(payload, str):
        return payload
    with contextlib.suppress(UnicodeDecodeError):
        text = payload.decode()
        if text.isprintable():
            return text
    return payload.hex(" ", 2)  # register blocks: one 16-bit register per group


@sim_app.command("modbus")
def sim_modbus(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(5020, "--port", help="Port to listen on."),
    units: str = typer.Option("1", "--units", help="Comma-separated unit ids."),
    static: bool = typer.Option(False, "--static", help="Registers keep their values."),
) -> None:
    """Run a simulated Modbus/TCP device whose registers change on every read."""
    from workers.devstack.modbus_sim import ModbusSimulator

    ids = [int(u) for u in units.split(",") if u.strip()]
    stop = asyncio.Event()

    async def main() -> None:
        async with ModbusSimulator(host, port, ids, changing=not static):
            console.print(f"simulated Modbus device on {host}:{port}, units {ids}")
            await stop.wait()

    _run(main(), stop)
