"""``cronos monitor``: the Redis metric windows of every version, live in the terminal.

For each ``(component, version)`` with figures in the last hour: frames, average and p95
latency, success rate, confidence and validation accuracy over the last 1, 5 and 60 minutes,
summed over all workers. The active and known-good versions are marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import typer
from redis.asyncio import Redis
from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.control.settings import RedisSettings
from streams.control.state import VersionStore
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.windows import Figures, MetricWindows

Row = tuple[str, str, str, list[Figures]]
WINDOWS = (("1m", 60.0), ("5m", 300.0), ("60m", 3600.0))
console = Console()


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def render(rows: list[Row]) -> Table:
    """The table for ``(component, version, mark, [figures per window])`` rows."""
    table = Table(title=f"CRONOS metric windows · {time.strftime('%H:%M:%S')}")
    for col in (
        "component",
        "version",
        "",
        "window",
        "frames",
        "errors",
        "avg ms",
        "p95 ms",
        "success",
        "confidence",
        "accuracy",
    ):
        table.add_column(col, justify="right" if col not in ("component", "version") else "left")
    for component, version, mark, figs in rows:
        for (label, _), f in zip(WINDOWS, figs, strict=True):
            table.add_row(
                component,
                version,
                mark,
                label,
                str(f.count),
                str(f.errors),
                _num(f.avg_latency_ms()),
                _num(f.latency_quantile(0.95), "{:g}"),
                _num(f.success_rate()),
                _num(f.avg_confidence()),
                _num(f.avg_accuracy()),
            )
            component, version, mark = "", "", ""
    return table


async def collect(windows: MetricWindows, store: VersionStore) -> list[Row]:
    """Read every known version's windows (and the pointers, for the marks)."""
    active = await store.get_active("field_detector")
    good = await store.get_known_good("field_detector")
    rows = []
    for component, version in await windows.known(3600):
        figs = [await windows.read(component, version, secs) for _, secs in WINDOWS]
        mark = ""
        if component == "field_detector":
            mark = " ".join(
                name
                for name, ptr in (("active", active), ("good", good))
                if ptr is not None and ptr.version == version
            )
        rows.append((component, version, mark, figs))
    return rows


def monitor(
    interval: float = typer.Option(2.0, help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Print one table and exit."),
) -> None:
    """Show the metric windows per version, refreshed live (Ctrl-C stops)."""
    redis = RedisSettings()
    settings = MonitorSettings()

    async def main() -> None:
        client = Redis.from_url(redis.url.get_secret_value())
        windows = MetricWindows(client, redis.key_prefix, settings.bucket_s, settings.ttl_s)
        store = VersionStore(client, prefix=redis.key_prefix)
        try:
            if once:
                console.print(render(await collect(windows, store)))
                return
            with Live(render([]), console=console, refresh_per_second=4) as live:
                while True:
                    live.update(render(await collect(windows, store)))
                    await asyncio.sleep(interval)
        finally:
            await client.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
