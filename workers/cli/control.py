"""``cronos control``: issue signed commands to the workers and read the version state.

Commands are signed with the key from ``CRONOS_CONTROL_HMAC_KEY`` / ``_FILE`` and published to
the control topic; ``--wait`` collects the workers' events for the command and prints them.
Every Kafka client here authenticates as the workers do (``CRONOS_KAFKA_SECURITY_PROTOCOL``,
SASL and TLS settings: :meth:`KafkaSettings.client_auth`).
"""

from __future__ import annotations

import asyncio
import getpass
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from streams.control.artifact_root import ArtifactRoot
from streams.control.command import new_command
from streams.control.events import ControlEvent
from streams.control.settings import ControlSettings, RedisSettings
from streams.control.state import VersionStore
from streams.errors import CommandRejectedError, KafkaSetupError, SettingsError
from streams.kafka import assign_all
from streams.worker.settings import KafkaSettings
from workers.cli.drill import drill

control_app = typer.Typer(help="Hot swap, roll back and inspect model versions.")
console = Console()

COMPONENT = typer.Option("field_detector", help="field_detector or translation_rules.")
PAIR = typer.Option(None, help="Protocol pair src->dst (translation_rules only).")
WAIT = typer.Option(0, "--wait", help="Wait for this many workers' events (0: don't wait).")
TIMEOUT = typer.Option(60.0, help="Seconds --wait waits at most.")
SHA256 = typer.Option(
    None, help="The artifact's sha256, signed with the command (default: read from its sidecar)."
)
ARTIFACT_ROOT = typer.Option(
    Path("checkpoints"),
    envvar="CRONOS_ARTIFACT_ROOT",
    help="Artifact root the sha256 is read from when --sha256 is not given.",
)


def _artifact_sha256(root: Path, component: str, version: str, pair: str | None) -> str:
    """The sha256 of the artifact a worker would resolve, checked against its sidecar."""
    try:
        return ArtifactRoot(root).resolve_verified(component, version, pair)[1]
    except CommandRejectedError as exc:
        console.print(f"[red]not issued:[/] {exc} (under {root}; or pass --sha256)")
        raise typer.Exit(2) from exc


def _issue(action: str, component: str, target: dict[str, Any], wait: int, timeout: float) -> None:
    target = {k: v for k, v in target.items() if v is not None}
    key = ControlSettings().hmac_key()
    issuer = f"{getpass.getuser()}@{socket.gethostname()}"
    cmd, raw = new_command(action, component, target, issuer, key)
    try:
        kafka = KafkaSettings()
    except ValidationError as exc:  # hide_input_in_errors: no value is shown
        console.print(f"[red]not issued:[/] {exc}")
        raise typer.Exit(2) from exc
    try:
        events = asyncio.run(_publish_and_wait(kafka, raw, str(cmd.id), wait, timeout))
    except (KafkaSetupError, SettingsError) as exc:  # e.g. no events topic, unreadable CA file
        console.print(f"[red]not issued:[/] {exc}")
        raise typer.Exit(2) from exc
    except KafkaError as exc:  # e.g. wrong security protocol or credentials for the listener
        console.print(
            f"[red]not issued:[/] cannot talk to Kafka at {kafka.broker} "
            f"({kafka.security_protocol}): {exc}"
        )
        raise typer.Exit(2) from exc
    console.print(f"issued {action} {component} {target} as [bold]{cmd.id}[/]")
    if wait:
        _print_events(events)
        if len(events) < wait or any(e.outcome != "applied" for e in events):
            raise typer.Exit(1)


async def _publish_and_wait(
    kafka: KafkaSettings, raw: bytes, cmd_id: str, wait: int, timeout: float
) -> list[ControlEvent]:
    auth = kafka.client_auth()  # SASL/SSL, where configured
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None, **auth)
    try:
        await consumer.start()
        # Pin the events position before publishing, so no event can slip past us.
        await assign_all(consumer, kafka.topic_control_events)
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", **auth)
        try:
            await producer.start()
            await producer.send_and_wait(kafka.topic_control, raw)
        finally:
            await producer.stop()
        events: list[ControlEvent] = []
        deadline = time.monotonic() + timeout
        while len(events) < wait and time.monotonic() < deadline:
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                for r in recs:
                    event = ControlEvent.from_json(r.value or b"{}")
                    if event.command_id == cmd_id:
                        events.append(event)
        return events
    finally:
        await consumer.stop()


def _print_events(events: list[ControlEvent]) -> None:
    table = Table("worker", "outcome", "reason", "from", "to", "pointer changed", "total ms")
    for e in events:
        colour = "green" if e.outcome == "applied" else "red"
        table.add_row(
            e.worker_id,
            f"[{colour}]{e.outcome}[/]",
            e.reason or "",
            e.from_version or "",
            e.to_version or "",
            "yes" if e.pointer_changed else "",
            f"{e.timings_ms.get('total', 0):.0f}",
        )
    console.print(table)


def _versioned(action: str, summary: str) -> Callable[..., None]:
    """The ``swap`` and ``promote`` commands: one shape, two actions."""

    def command(
        version: str,
        component: str = COMPONENT,
        pair: str = PAIR,
        min_f1: float | None = None,
        sha256: str | None = SHA256,
        artifact_root: Path = ARTIFACT_ROOT,
        wait: int = WAIT,
        timeout: float = TIMEOUT,
    ) -> None:
        digest = sha256 or _artifact_sha256(artifact_root, component, version, pair)
        target = {"version": version, "pair": pair, "min_f1": min_f1, "sha256": digest}
        _issue(action, component, target, wait, timeout)

    command.__doc__ = summary
    return command


swap = control_app.command("swap")(
    _versioned("swap", "Validate VERSION and swap it in on every worker.")
)
promote = control_app.command("promote")(
    _versioned("promote", "Like swap, and record VERSION as known-good.")
)


@control_app.command()
def rollback(
    steps: int = 1,
    component: str = COMPONENT,
    pair: str = PAIR,
    wait: int = WAIT,
    timeout: float = TIMEOUT,
) -> None:
    """Go back STEPS activations in the history (validated)."""
    _issue("rollback", component, {"steps": steps, "pair": pair}, wait, timeout)


@control_app.command("emergency-rollback")
def emergency_rollback(
    version: str = typer.Option(None, help="Version to force (default: known-good)."),
    component: str = COMPONENT,
    pair: str = PAIR,
    wait: int = WAIT,
    timeout: float = TIMEOUT,
) -> None:
    """Force the known-good (or given) version, skipping validation."""
    _issue("emergency_rollback", component, {"version": version, "pair": pair}, wait, timeout)


@control_app.command()
def status(component: str = COMPONENT, pair: str = PAIR) -> None:
    """Show the active and known-good pointers in Redis."""

    async def read() -> list[Any]:
        store = VersionStore.from_settings(RedisSettings())
        try:
            return [
                await store.get_active(component, pair),
                await store.get_known_good(component, pair),
            ]
        finally:
            await store.aclose()

    table = Table("pointer", "version", "sha256", "activated at", "command")
    for name, ptr in zip(("active", "known_good"), asyncio.run(read()), strict=True):
        if ptr is None:
            table.add_row(name, "-", "", "", "")
        else:
            table.add_row(name, ptr.version, ptr.sha256[:12], str(ptr.activated_at), ptr.command_id)
    console.print(table)


@control_app.command()
def history(component: str = COMPONENT, pair: str = PAIR, limit: int = 20) -> None:
    """Show the newest LIMIT history entries."""

    async def read() -> list[Any]:
        store = VersionStore.from_settings(RedisSettings())
        try:
            return await store.get_history(component, pair, limit)
        finally:
            await store.aclose()

    table = Table("at", "action", "from", "to", "outcome", "reason", "command", "issuer")
    for h in asyncio.run(read()):
        table.add_row(
            str(h.at),
            h.action,
            h.from_version or "",
            h.to_version or "",
            h.outcome,
            h.reason or "",
            h.command_id,
            h.issuer,
        )
    console.print(table)


control_app.command("drill")(drill)  # cronos control drill: swap to previous and back, measured
