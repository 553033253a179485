"""``cronos train``, ``cronos detect``, ``cronos checkpoints …``, ``cronos dataset synth``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from engine.core.config import Config
from engine.datasets.synthetic import generate
from engine.detection import checkpoint_catalog as ckpts
from engine.detection.dataset import load_jsonl, save_jsonl
from engine.detection.default_model import default_model_path
from engine.detection.epochs import EpochResult
from engine.detection.field_detector import FieldDetector
from engine.detection.reading import READINGS
from engine.errors import EngineError

console = Console()
checkpoints_app = typer.Typer(
    help="List checkpoints and find rollback targets.", no_args_is_help=True
)
dataset_app = typer.Typer(help="Labelled datasets (JSON lines).", no_args_is_help=True)

DEFAULT_CKPT_DIR = Path("checkpoints/field_detector")


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=2)


def _config(**detector: object) -> Config:
    base = Config()
    return base.model_copy(
        update={
            "detector": base.detector.model_copy(
                update={k: v for k, v in detector.items() if v is not None}
            )
        }
    )


def train(
    train_file: Path = typer.Option(
        ..., "--train", exists=True, dir_okay=False, help="Training set (JSON lines)."
    ),
    val_file: Path = typer.Option(
        ...,
        "--val",
        exists=True,
        dir_okay=False,
        help="Validation set (JSON lines), ideally other capture files.",
    ),
    epochs: int = typer.Option(30, min=1, help="Maximum epochs."),
    lr: float = typer.Option(1e-3, help="Learning rate."),
    batch_size: int = typer.Option(32, min=1),
    patience: int = typer.Option(5, min=1, help="Early-stopping patience (epochs)."),
    checkpoint_dir: Path = typer.Option(DEFAULT_CKPT_DIR, help="Where checkpoints go."),
    version: str = typer.Option("1.0.0", help="Semantic version stamped on the checkpoints."),
    all_checkpoints: bool = typer.Option(False, help="Save every epoch, not only improvements."),
    resume: Path | None = typer.Option(None, help="Checkpoint to fine-tune from."),
    hidden_size: int | None = typer.Option(None, help="LSTM units per direction."),
    num_layers: int | None = typer.Option(None, help="Stacked BiLSTM layers."),
    embedding_dim: int | None = typer.Option(None, help="Byte embedding width."),
) -> None:
    """Train the field detector with a progress bar per epoch and a summary table."""
    try:
        cfg = _config(
            version=version,
            hidden_size=hidden_size,
            num_layers=num_layers,
            embedding_dim=embedding_dim,
        )
        detector = FieldDetector(cfg)
        max_bytes = cfg.detector.max_message_bytes
        train_set = load_jsonl(train_file, max_bytes=max_bytes)
        val_set = load_jsonl(val_file, max_bytes=max_bytes)
        if resume is not None:
            asyncio.run(detector.load_checkpoint(resume, load_optimizer=True, load_scheduler=True))
            detector.version = version
    except EngineError as exc:
        raise _fail(exc) from exc
    console.print(f"training on {len(train_set)} frames, validating on {len(val_set)}")
    columns = (
        TextColumn("[bold]epoch {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("train", total=epochs, status="")

        def on_epoch(epoch: int, result: EpochResult, improved: bool) -> None:
            mark = " [green]★[/green]" if improved else ""
            progress.update(
                task,
                completed=epoch,
                status=f"loss {result.train_loss:.4f}  val F1 {result.val['f1']:.4f}  "
                f"boundary F1 {result.val['boundary_f1']:.4f}{mark}",
            )

        try:
            history = detector.train(
                train_set,
                val_set,
                num_epochs=epochs,
                learning_rate=lr,
                batch_size=batch_size,
                early_stopping_patience=patience,
                save_best_only=not all_checkpoints,
                checkpoint_dir=checkpoint_dir,
                on_epoch=on_epoch,
                data_files={"train": train_file, "val": val_file},  # lineage: file sha256s
            )
        except EngineError as exc:
            raise _fail(exc) from exc
        progress.update(task, total=history["summary"]["epochs_run"])
    _print_summary(history)


def _print_summary(history: dict) -> None:
    s = history["summary"]
    best = s["best_epoch"] - 1
    table = Table(title="Training summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("version", s["version"]),
        ("epochs run", f"{s['epochs_run']}" + (" (early stop)" if s["stopped_early"] else "")),
        ("best epoch", str(s["best_epoch"])),
        ("field F1", f"{s['best_val_f1']:.4f}"),
        ("field precision", f"{history['val_precision'][best]:.4f}"),
        ("field recall", f"{history['val_recall'][best]:.4f}"),
        ("boundary F1", f"{history['val_boundary_f1'][best]:.4f}"),
        ("byte accuracy", f"{history['val_accuracy'][best]:.4f}"),
        ("field types", ", ".join(s["field_types"])),
        ("time", f"{s['total_time_seconds']:.1f} s"),
        ("best checkpoint", str(s["best_checkpoint"])),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


@checkpoints_app.command("list")
def list_checkpoints(
    checkpoint_dir: Path = typer.Option(DEFAULT_CKPT_DIR, "--dir", help="Checkpoint directory."),
    version: str | None = typer.Option(None, help="Only this version."),
    min_f1: float = typer.Option(0.0, help="Only checkpoints with F1 at least this."),
) -> None:
    """List epoch checkpoints, newest first; marks the rollback candidates."""
    infos = [
        i
        for i in ckpts.list_checkpoints(checkpoint_dir)
        if (version is None or i.version == version) and i.f1 >= min_f1
    ]
    if not infos:
        console.print(f"no checkpoints in {checkpoint_dir}")
        raise typer.Exit(code=1)
    previous = ckpts.previous_checkpoint(checkpoint_dir)
    table = Table(title=str(checkpoint_dir))
    for col in ("file", "version", "epoch", "F1", "saved (UTC)", ""):
        table.add_column(col)
    for i, info in enumerate(infos):
        note = "newest" if i == 0 and version is None else ("previous" if info == previous else "")
        table.add_row(
            info.filename,
            info.version,
            str(info.epoch),
            f"{info.f1:.4f}",
            info.saved_at.strftime("%Y-%m-%d %H:%M:%S"),
            note,
        )
    console.print(table)


def detect(
    model: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="Checkpoint to use (default: the shipped model)."
    ),
    frames: list[str] = typer.Argument(..., help="Frames as hex strings."),
    reading: str | None = typer.Option(
        None,
        help="Where a model with a boundary head takes its cuts: crf, head or auto "
        "(default: CRONOS_DETECTOR__BOUNDARY_READING, else auto).",
    ),
) -> None:
    """Detect the fields of frames given as hex."""
    if reading is not None and reading not in READINGS:
        raise _fail(ValueError(f"--reading must be one of {', '.join(READINGS)}"))
    detector = FieldDetector(_config(boundary_reading=reading))
    try:
        asyncio.run(detector.load_checkpoint(model or default_model_path()))
        messages = [bytes.fromhex(h) for h in frames]
        results = detector.detect_boundaries_batch(messages)
    except (EngineError, ValueError) as exc:
        raise _fail(exc) from exc
    for msg, fields in zip(messages, results, strict=True):
        _print_fields(msg, fields)


def _print_fields(msg: bytes, fields: list) -> None:
    table = Table(title=msg.hex(), title_justify="left")
    for col in ("bytes", "type", "value (hex)", "confidence"):
        table.add_column(col)
    for f in fields:
        table.add_row(
            f"{f.start_pos}-{f.end_pos}",
            f.field_type,
            msg[f.start_pos : f.end_pos].hex(),
            f"{f.confidence:.3f}",
        )
    console.print(table)


@dataset_app.command("synth")
def synth(
    protocol: str = typer.Option(
        "modbus", help="modbus, modbus-pcap, modbus-balanced, procedural or telemetry"
    ),
    count: int = typer.Option(1000, "-n", min=1),
    seed: int = typer.Option(0),
    out: Path = typer.Option(..., "-o", help="Output JSON-lines file."),
) -> None:
    """Write synthetic labelled frames (exact spans) as JSON lines."""
    try:
        n = save_jsonl(generate(protocol, count, seed), out)
    except ValueError as exc:
        raise _fail(exc) from exc
    console.print(f"wrote {n} frames to {out}")


def run(
    duration: float | None = typer.Option(
        None, help="Stop after this many seconds (default: run until Ctrl-C)."
    ),
    state_dir: Path = typer.Option(Path(".cronos/run"), help="Pid files, logs and artifacts."),
) -> None:
    """The main job on the embedded stack: device → Kafka → worker → MQTT, printed live."""
    from workers.devstack.demo import run_blocking

    counts = run_blocking(state_dir, duration)
    if duration is not None and counts.results == 0:
        raise typer.Exit(code=1)
