"""``cronos dev``: start, stop and inspect the embedded dev stack.

``dev_app`` is a typer sub-app; ``workers.cli.main`` mounts it:
``app.add_typer(dev_app, name="dev")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from workers.devstack.mqtt_broker import start_mqtt_broker, stop_mqtt_broker
from workers.devstack.stack import DevStack, DevStackConfig, ServiceStatus
from workers.errors import WorkersError

dev_app = typer.Typer(help="Embedded dev stack: tansu (Kafka protocol) and Redis on loopback.")
_console = Console()

StateDir = Annotated[
    Path, typer.Option("--state-dir", help="Directory for pid files, logs and stack.json.")
]
_STYLES = {"running": "green", "external": "cyan", "stopped": "dim", "stale": "yellow"}


def _table(rows: list[ServiceStatus]) -> Table:
    table = Table("service", "address", "pid", "state")
    for row in rows:
        style = _STYLES.get(row.state, "red")
        pid = "-" if row.pid is None else str(row.pid)
        table.add_row(row.service, row.address, pid, f"[{style}]{row.state}[/{style}]")
    return table


def _fail(exc: WorkersError) -> typer.Exit:
    _console.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(code=1)


@dev_app.command()
def up(
    kafka_port: Annotated[int, typer.Option(help="Broker port on 127.0.0.1; 0 picks one.")] = 19092,
    redis_url: Annotated[
        str, typer.Option(help="Redis used when it answers PING.")
    ] = DevStackConfig.redis_url,
    redis_port: Annotated[
        int, typer.Option(help="Port of the embedded redis-server if one is needed; 0 picks one.")
    ] = DevStackConfig.redis_fallback_port,
    embedded_redis: Annotated[
        bool, typer.Option(help="Start the embedded redis-server even if REDIS_URL answers.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds each service may take to start.")] = 15.0,
    mqtt_port: Annotated[
        int, typer.Option(help="Port of the embedded MQTT broker; 0 picks one, -1 starts none.")
    ] = 11883,
    state_dir: StateDir = DevStackConfig.state_dir,
) -> None:
    """Start Kafka (with the default topics), Redis if needed, and an MQTT broker."""
    config = DevStackConfig(
        kafka_port=kafka_port,
        redis_url=redis_url,
        redis_fallback_port=redis_port,
        force_embedded_redis=embedded_redis,
        state_dir=state_dir,
        start_timeout_s=timeout,
    )
    stack = DevStack(config)
    try:
        endpoints = stack.start()
    except WorkersError as exc:
        raise _fail(exc) from exc
    mqtt = ""
    if mqtt_port >= 0:
        try:
            mqtt = f"  MQTT={start_mqtt_broker(state_dir, port=mqtt_port).address}"
        except WorkersError as exc:
            _console.print(f"[yellow]MQTT broker not started:[/yellow] {exc}", highlight=False)
    _console.print(_table(stack.status()))
    _console.print(
        f"KAFKA_BOOTSTRAP={endpoints.kafka_bootstrap}  REDIS_URL={endpoints.redis_url}{mqtt}"
    )


@dev_app.command()
def down(state_dir: StateDir = DevStackConfig.state_dir) -> None:
    """Stop what `up` started (never a Redis it found running) and clear its pid files."""
    try:
        stopped = DevStack(DevStackConfig(state_dir=state_dir)).stop()
        if stop_mqtt_broker(state_dir):
            stopped.append("mqtt")
    except WorkersError as exc:
        raise _fail(exc) from exc
    _console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@dev_app.command()
def status(state_dir: StateDir = DevStackConfig.state_dir) -> None:
    """Show each service: address, pid and state (exit code 1 unless all are up)."""
    rows = DevStack(DevStackConfig(state_dir=state_dir)).status()
    _console.print(_table(rows))
    if any(row.state not in ("running", "external") for row in rows):
        raise typer.Exit(code=1)
