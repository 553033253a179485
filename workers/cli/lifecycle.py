"""``cronos checkpoints prune|show`` and ``cronos dataset check``: model lifecycle hygiene.

Protected versions come from Redis when ``--redis-url`` is given (the active pointer, the
version it replaced, and the last known-good one, per component or protocol pair) and from
``--protect``. Without Redis only ``--protect`` and the newest ``--keep`` versions are safe, so
say what runs in production with ``--protect``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

from engine.artifacts import sidecar_path
from engine.detection import checkpoint_catalog as ckpts
from engine.detection import retention
from engine.detection.checkpoint import load_checkpoint_payload
from engine.detection.dataset import iter_jsonl
from engine.detection.quality import QualityPolicy, QualityReport, check_dataset
from engine.errors import EngineError
from engine.translation import store as rules_store
from streams.control.state import HistoryEntry, VersionStore
from streams.errors import StateError
from workers.cli.detector import DEFAULT_CKPT_DIR, checkpoints_app, dataset_app

console = Console()
COMPONENTS = ("field_detector", "translation_rules")
NO_HISTORY = "no control history available"


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(code=2)


# ---------------------------------------------------------------------------- Redis reads


@dataclass
class Protection:
    """What Redis says must never be pruned."""

    versions: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


async def redis_protection(
    url: str, prefix: str, component: str, pairs: list[str | None]
) -> Protection:
    """Active, previous and known-good versions (and pointer paths) of each component/pair.

    Raises:
        StateError: Redis did not answer (pruning must then stop: we cannot see what runs).
    """
    store = VersionStore(
        Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), prefix=prefix
    )
    out = Protection()
    try:
        for pair in pairs:
            where = component if pair is None else f"{component}:{pair}"
            active = await store.get_active(component, pair)
            known = await store.get_known_good(component, pair)
            for label, ptr in (("active", active), ("known good", known)):
                if ptr is not None:
                    out.versions.add(ptr.version)
                    out.paths.add(ptr.path)
                    out.notes.append(f"{where} {label}: {ptr.version}")
            previous = _previous(await store.get_history(component, pair, limit=200), active)
            if previous is not None:
                out.versions.add(previous)
                out.notes.append(f"{where} previous: {previous}")
    finally:
        await store.aclose()
    return out


def _previous(history: list[HistoryEntry], active: Any) -> str | None:
    """The version the active one replaced (newest applied change to it)."""
    for entry in history:
        if entry.outcome != "applied" or not entry.from_version:
            continue
        if active is None or entry.to_version == active.version:
            return entry.from_version
    return None


async def redis_history(
    url: str, prefix: str, component: str, pair: str | None, limit: int = 500
) -> list[HistoryEntry]:
    """Control history of a component/pair, newest first."""
    store = VersionStore(
        Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), prefix=prefix
    )
    try:
        return await store.get_history(component, pair, limit=limit)
    finally:
        await store.aclose()


# ---------------------------------------------------------------------------- prune


def _artifacts(directory: Path, component: str) -> list[retention.Artifact]:
    if component == "field_detector":
        return retention.field_detector_artifacts(directory)
    return retention.rules_artifacts(directory)


@checkpoints_app.command("prune")
def prune(
    directory: Path = typer.Option(DEFAULT_CKPT_DIR, "--dir", help="Artifact directory."),
    component: str = typer.Option("field_detector", help="field_detector or translation_rules."),
    keep: int = typer.Option(retention.DEFAULT_KEEP_VERSIONS, min=1, help="Newest versions kept."),
    keep_epochs: int | None = typer.Option(
        None, min=1, help="Best epoch checkpoints kept per unprotected version (default: all)."
    ),
    protect: list[str] = typer.Option([], "--protect", help="Version never deleted (repeatable)."),
    redis_url: str | None = typer.Option(None, help="Read active/previous/known-good from Redis."),
    redis_prefix: str = typer.Option("cronos:", help="Redis key prefix."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; delete nothing."),
    lock_timeout: float = typer.Option(10.0, help="Seconds to wait for loads in progress."),
) -> None:
    """Delete old checkpoints or rule sets, never the active, previous or known-good ones."""
    if component not in COMPONENTS:
        raise _fail(ValueError(f"component must be one of {', '.join(COMPONENTS)}"))
    try:
        artifacts = _artifacts(directory, component)
        guard = Protection(versions=set(protect))
        if redis_url is not None:
            pairs: list[str | None] = [None]
            if component == "translation_rules" and artifacts:
                pairs = [*sorted({a.group for a in artifacts})]
            from_redis = asyncio.run(redis_protection(redis_url, redis_prefix, component, pairs))
            guard.versions |= from_redis.versions
            guard.paths |= from_redis.paths
            guard.notes = from_redis.notes
        plan = retention.plan_prune(
            artifacts,
            keep_versions=keep,
            protected_versions=guard.versions,
            protected_paths=guard.paths,
            keep_epochs=keep_epochs,
        )
    except (EngineError, StateError, ValueError) as exc:
        raise _fail(exc) from exc
    for note in guard.notes:
        console.print(f"protected by Redis: {note}")
    if redis_url is None and not protect:
        console.print("[yellow]no --redis-url and no --protect: only the newest versions are safe")
    _print_plan(plan, directory)
    doomed = plan.delete
    size = sum(a.path.stat().st_size for a in doomed if a.path.exists())
    if dry_run:
        console.print(f"dry run: would delete {len(doomed)} files ({size / 1e6:.2f} MB)")
        return
    try:
        deleted = retention.apply_prune(plan, directory, lock_timeout_s=lock_timeout)
    except EngineError as exc:
        raise _fail(exc) from exc
    console.print(f"deleted {len(deleted)} files ({size / 1e6:.2f} MB)")


def _print_plan(plan: retention.PrunePlan, directory: Path) -> None:
    table = Table(title=f"prune plan: {directory}")
    for col in ("file", "group", "version", "action", "reason"):
        table.add_column(col)
    for d in plan.decisions:
        action = "[red]delete[/red]" if d.delete else "[green]keep[/green]"
        a = d.artifact
        table.add_row(a.path.name, a.group, a.version, action, d.reason)
    console.print(table)


# ---------------------------------------------------------------------------- show


def _find_artifact(directory: Path, component: str, version: str, pair: str | None) -> Path:
    if component == "field_detector":
        info = ckpts.find_checkpoint(directory, version)
        if info is not None:
            return info.path
        latest = directory / ckpts.latest_filename(version)
        if latest.exists():
            return latest
    else:
        for e in rules_store.list_saved(directory):
            e_pair = f"{e['source_protocol']}->{e['target_protocol']}"
            if e["version"] == version and (pair is None or pair == e_pair):
                return Path(e["path"])
    raise FileNotFoundError(f"no {component} artifact of version {version} in {directory}")


def _load_lineage(path: Path, component: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(summary rows, lineage) of an artifact, after its checksum is verified."""
    if component == "field_detector":
        payload = load_checkpoint_payload(path)
        summary = {
            "version": payload["version"],
            "epoch": payload["epoch"],
            "saved (UTC)": payload["timestamp"],
            **{k: f"{v:.4f}" for k, v in payload["metrics"].items()},
        }
        return summary, dict(payload.get("lineage") or {})
    env = rules_store.load_envelope(path)
    summary = {
        "version": env.rules.version,
        "pair": f"{env.rules.source_protocol}->{env.rules.target_protocol}",
        "saved (UTC)": env.saved_at,
        "accuracy": f"{env.rules.accuracy:.4f}",
    }
    return summary, dict(env.lineage or {})


@checkpoints_app.command("show")
def show(
    version: str = typer.Argument(..., help="Version to describe."),
    directory: Path = typer.Option(DEFAULT_CKPT_DIR, "--dir", help="Artifact directory."),
    component: str = typer.Option("field_detector", help="field_detector or translation_rules."),
    pair: str | None = typer.Option(None, help="Protocol pair of a rule set (modbus->mqtt)."),
    redis_url: str | None = typer.Option(None, help="Read the changelog from Redis."),
    redis_prefix: str = typer.Option("cronos:", help="Redis key prefix."),
) -> None:
    """Lineage of a version (data, code, libraries, parameters) and its changelog."""
    if component not in COMPONENTS:
        raise _fail(ValueError(f"component must be one of {', '.join(COMPONENTS)}"))
    try:
        path = _find_artifact(directory, component, version, pair)
        summary, lineage = _load_lineage(path, component)
    except (EngineError, OSError) as exc:
        raise _fail(exc) from exc
    digest = sidecar_path(path).read_text(encoding="ascii").split()[0]
    _kv_table(f"{component} {version}", {"file": str(path), "sha256": digest, **summary})
    _print_lineage(lineage)
    if component == "translation_rules" and pair is None:
        pair = summary.get("pair")
    history: list[HistoryEntry] | None = None
    if redis_url is not None:
        try:
            history = asyncio.run(
                redis_history(
                    redis_url,
                    redis_prefix,
                    component,
                    pair if component != "field_detector" else None,
                )
            )
        except StateError as exc:
            console.print(f"[yellow]control history unreadable: {exc}")
    _print_changelog(version, history)


def _kv_table(title: str, rows: dict[str, Any]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in rows.items():
        table.add_row(k, "—" if v is None else str(v))
    console.print(table)


def _print_lineage(lineage: dict[str, Any]) -> None:
    if not lineage:
        console.print("no lineage recorded (artifact written before lineage existed)")
        return
    table = Table(title="datasets", title_justify="left")
    for col in ("set", "source", "rows", "sha256", "path"):
        table.add_column(col)
    for name, d in lineage.get("datasets", {}).items():
        digest = d.get("sha256") or d.get("content_sha256")
        rows = str(d.get("rows"))
        if d.get("file_rows") not in (None, d.get("rows")):
            rows += f" of {d['file_rows']}"  # a subset of the file was used
        table.add_row(name, d.get("source"), rows, digest, d.get("path") or "—")
    console.print(table)
    code = lineage.get("code", {})
    _kv_table("code", {**code, "created_at": lineage.get("created_at")})
    _kv_table("libraries", lineage.get("libraries", {}))
    params = dict(lineage.get("parameters", {}))
    settings = params.pop("settings", {}) or {}
    _kv_table(
        "training parameters", {**params, **{f"settings.{k}": v for k, v in settings.items()}}
    )
    if lineage.get("parent"):
        _kv_table("resumed from", lineage["parent"])


def _print_changelog(version: str, history: list[HistoryEntry] | None) -> None:
    console.print("[bold]changelog")
    if history is None:
        console.print(NO_HISTORY)
        return
    lines = [e for e in history if version in (e.to_version, e.from_version)]
    if not lines:
        console.print(f"no control commands touched {version}")
    for e in reversed(lines):  # oldest first, like a changelog
        when = e.at.strftime("%Y-%m-%d %H:%M:%SZ")
        move = f"{e.from_version or '—'} → {e.to_version or '—'}"
        why = e.reason or "no reason given"
        console.print(
            f"{when}  {e.action} {move} by {e.issuer} ({e.outcome}): {why} [{e.command_id}]"
        )


# ---------------------------------------------------------------------------- dataset check


@dataset_app.command("check")
def check(
    train_file: Path = typer.Option(..., "--train", exists=True, dir_okay=False),
    val_file: Path = typer.Option(..., "--val", exists=True, dir_okay=False),
    strict_gaps: bool = typer.Option(False, help="Bytes no span covers are errors."),
    max_bytes: int = typer.Option(64 * 1024, min=1, help="Largest acceptable frame."),
    rare: int = typer.Option(5, min=1, help="Field types with fewer training spans are rare."),
) -> None:
    """Data-quality report; exits 1 when training would be refused."""
    try:
        train = list(iter_jsonl(train_file))
        val = list(iter_jsonl(val_file))
    except EngineError as exc:
        raise _fail(exc) from exc
    policy = QualityPolicy(max_bytes=max_bytes, strict_gaps=strict_gaps, rare_label_min=rare)
    report = check_dataset(train, val, policy)
    print_report(report)
    if not report.ok:
        raise typer.Exit(code=1)


def print_report(report: QualityReport) -> None:
    """The report as rich tables: issues, sizes, label distribution."""
    stats = dict(report.stats)
    labels = stats.pop("labels", {})
    _kv_table("dataset", stats)
    dist = Table(title="labels (spans)", title_justify="left")
    for col in ("field type", "train", "val"):
        dist.add_column(col)
    for ftype, counts in labels.items():
        dist.add_row(ftype, str(counts["train"]), str(counts["val"]))
    console.print(dist)
    issues = Table(title="issues", title_justify="left")
    for col in ("severity", "check", "count", "examples"):
        issues.add_column(col)
    for i in [*report.errors, *report.warnings]:
        style = "red" if i.severity == "error" else "yellow"
        issues.add_row(f"[{style}]{i.severity}", i.code, str(i.count), "\n".join(i.examples))
    console.print(issues)
    verdict = "[green]ok: training allowed" if report.ok else "[red]errors: training refused"
    console.print(verdict)
