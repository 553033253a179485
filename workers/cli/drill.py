"""``cronos control drill``: the rollback drill as one command, and its printed figures.

The drill itself is :func:`streams.drill.runner.run_drill`; this module reads the settings from the
environment (as the other ``cronos control`` commands do), prints progress and the tables, and
sets the exit status (1 when the drill failed, 2 when it could not start).
"""

from __future__ import annotations

import asyncio
import getpass
import socket
import time

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from streams.control.settings import ControlSettings, RedisSettings
from streams.control.state import VersionStore
from streams.drill.report import BACK, TO_PREVIOUS, DrillReport
from streams.drill.runner import DrillConfig, DrillError, run_drill
from streams.errors import SettingsError
from streams.worker.settings import KafkaSettings

console = Console()


def drill(
    component: str = typer.Option(
        "field_detector", help="Only field_detector: probe results carry its version."
    ),
    to: str = typer.Option(None, "--to", help="Version to drill against (default: previous)."),
    probe_frames: int = typer.Option(200, min=1, help="Probe frames to send, at least."),
    rate: float = typer.Option(50.0, min=0.1, help="Probe frames per second."),
    timeout: float = typer.Option(120.0, min=1.0, help="Seconds each wait may take at most."),
    workers: int = typer.Option(
        None, min=1, help="Workers expected to answer (default: whoever answers)."
    ),
    protocol: str = typer.Option("modbus", help="protocol header of the probe frames."),
) -> None:
    """Swap to the previous version and back under probe load; print timings and frame counts."""
    if component != "field_detector":
        console.print("[red]the drill supports field_detector only[/]")
        raise typer.Exit(2)
    cfg = DrillConfig(component, to, probe_frames, rate, timeout, workers, protocol=protocol)
    try:
        report = asyncio.run(_run(cfg))
    except (DrillError, SettingsError) as exc:
        console.print(f"[red]drill not started:[/] {exc}")
        raise typer.Exit(2) from None
    except KafkaError as exc:  # e.g. wrong security protocol or credentials for the listener
        console.print(f"[red]drill stopped:[/] Kafka: {exc}")
        raise typer.Exit(2) from None
    render(report, console)
    if not report.ok:
        raise typer.Exit(1)


async def _run(cfg: DrillConfig) -> DrillReport:
    store = VersionStore.from_settings(RedisSettings())
    issuer = f"{getpass.getuser()}@{socket.gethostname()}"
    try:
        return await run_drill(
            KafkaSettings(), store, ControlSettings().hmac_key(), cfg, issuer, _say
        )
    finally:
        await store.aclose()


def _say(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}")


def render(report: DrillReport, out: Console) -> None:
    """Print the drill's tables and its verdict."""
    out.print(
        f"rollback drill [bold]{report.run_id}[/] of {report.component}: "
        f"{report.original} → {report.previous} → {report.original} "
        f"in {report.duration_s:.1f} s"
    )
    swaps = Table("worker", "phase", "outcome", "applied ms", "send → event ms", title="swaps")
    for phase in (TO_PREVIOUS, BACK):
        for a in sorted((a for a in report.applied if a.phase == phase), key=lambda a: a.worker_id):
            outcome = "[green]applied[/]" if a.outcome == "applied" else f"[red]{a.reason}[/]"
            swaps.add_row(a.worker_id, phase, outcome, f"{a.applied_ms:.0f}", f"{a.wall_ms:.0f}")
    out.print(swaps)
    frames = Table("sent", "results", "dead letters", "duplicates", "lost", title="probe frames")
    lost = f"[red]{report.lost}[/]" if report.lost else "0"
    frames.add_row(
        str(report.sent),
        str(report.results),
        str(report.dead_letters),
        str(report.duplicates),
        lost,
    )
    out.print(frames)
    versions = Table(
        "partition",
        "versions that stamped results, in offset order (results)",
        title="versions seen",
    )
    for part, seq in sorted(report.sequences.items()):
        versions.add_row(str(part), " → ".join(f"{v} ({n})" for v, n in seq))
    out.print(versions)
    out.print(f"pointer now: {report.final_version}")
    problems = report.problems()
    if problems:
        out.print("[red]FAILED[/]: " + "; ".join(problems))
    else:
        out.print("[green]PASSED[/]: every worker applied both swaps, no probe frame lost")
