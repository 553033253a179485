"""``cronos dataset from-pcap`` and ``cronos dataset split``: real captures → labelled JSONL.

Registered on the ``dataset`` sub-app of :mod:`workers.cli.detector`; importing this module once
(from :mod:`workers.cli.main`) adds the commands.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from engine.datasets.pcap_import import ImportResult, frame_row, import_capture, write_rows
from engine.datasets.pcap_label import PROTOCOLS, SKIP_REASONS
from engine.datasets.pcap_reader import read_frames
from engine.datasets.split import split_rows
from engine.detection.dataset import iter_jsonl
from engine.errors import EngineError
from workers.cli.detector import dataset_app

console = Console()


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=2)


@dataset_app.command("from-pcap")
def from_pcap(
    captures: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="pcap/pcapng"),
    protocol: str = typer.Option(
        ..., "--protocol", "-p", help=f"{'|'.join(PROTOCOLS)} or another tshark layer name."
    ),
    out: Path = typer.Option(..., "-o", "--out", help="Output JSON-lines file."),
) -> None:
    """Label the messages of PROTOCOL in capture files with tshark's dissectors."""
    results: list[ImportResult] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            for path in captures:
                task = progress.add_task(path.name, total=len(read_frames(path)))

                def advance(number: int, task: TaskID = task) -> None:
                    progress.update(task, completed=number)

                results.append(import_capture(path, protocol, on_packet=advance))
        rows = (frame_row(f, r.source) for r in results for f in r.frames)
        n = write_rows(rows, out)
    except EngineError as exc:
        raise _fail(exc) from exc
    _import_table(results)
    console.print(f"wrote {n} labelled messages to {out}")


def _import_table(results: list[ImportResult]) -> None:
    reasons = [r for r in SKIP_REASONS if any(res.skipped[r] for res in results)]
    table = Table(title="Labelled messages")
    for col in ("capture", "packets", "messages", "labelled", *(f"skip: {r}" for r in reasons)):
        table.add_column(col, justify="left" if col == "capture" else "right")
    total: Counter[str] = Counter()
    for res in results:
        counts = [res.packets, res.messages, len(res.frames)] + [res.skipped[r] for r in reasons]
        table.add_row(res.source, *map(str, counts))
        for k, v in zip(("p", "m", "l", *reasons), counts, strict=True):
            total[k] += v
    if len(results) > 1:
        table.add_row("total", *(str(total[k]) for k in ("p", "m", "l", *reasons)))
    console.print(table)


@dataset_app.command("split")
def split(
    inputs: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="JSONL files."),
    out_dir: Path = typer.Option(..., "-o", "--out-dir", help="Writes train.jsonl, test.jsonl."),
    test: list[str] = typer.Option(
        [], "--test", help="Glob on capture file names for the test side (repeatable)."
    ),
    max_train_per_file: int | None = typer.Option(
        None, min=1, help="Cap training messages per capture file (random, seeded)."
    ),
    seed: int = typer.Option(0),
) -> None:
    """Deduplicate by payload and split by capture file (a file is never on both sides)."""
    try:
        rows = [row for path in inputs for row in iter_jsonl(path)]
        result = split_rows(rows, test, max_train_per_file=max_train_per_file, seed=seed)
        n_train = write_rows(result.train, out_dir / "train.jsonl")
        n_test = write_rows(result.test, out_dir / "test.jsonl")
    except EngineError as exc:
        raise _fail(exc) from exc
    table = Table(title=f"Split ({len(rows)} rows read)")
    for col in ("protocol", "train", "test", "duplicates dropped", "capped", "test files"):
        table.add_column(col)
    protos = sorted({str(r.get("protocol", "")) for r in rows})
    for proto in protos:
        tr = sum(1 for r in result.train if r.get("protocol") == proto)
        te = [r for r in result.test if r.get("protocol") == proto]
        files = ", ".join(sorted({str(r["source"]) for r in te}))
        dup, cap = result.duplicates[proto], result.capped[proto]
        table.add_row(proto, str(tr), str(len(te)), str(dup), str(cap), files)
    console.print(table)
    console.print(f"wrote {n_train} training and {n_test} test messages to {out_dir}")
