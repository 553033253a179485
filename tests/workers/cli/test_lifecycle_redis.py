"""Lifecycle commands reading Redis: prune protects active/previous/known-good, show's changelog.

Uses the session Redis (``redis_url``) with this test's own key prefix (``redis_prefix``); the
CLI runs in a worker thread because it calls ``asyncio.run`` itself.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner, Result

from engine.artifacts import write_with_sidecar
from engine.detection import checkpoint_catalog as ckpts
from engine.detection.checkpoint import save_checkpoint
from streams.control.state import HistoryEntry, VersionPointer, VersionStore
from workers.cli.lifecycle import redis_protection

pytestmark = pytest.mark.integration

VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def _cli(*args: str) -> Result:
    from workers.cli.main import app

    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args), env={"COLUMNS": "240"})


def _checkpoints(root: Path) -> dict[str, Path]:
    paths = {}
    for n, v in enumerate(VERSIONS):
        p = root / ckpts.checkpoint_filename(v, 1, 0.9, T0 + timedelta(days=n))
        write_with_sidecar(p, v.encode())
        paths[v] = p
    return paths


async def _promote(store: VersionStore, path: Path, frm: str | None, to: str, why: str) -> None:
    ptr = VersionPointer(to, str(path), "0" * 64, f"cmd-{to}")
    entry = HistoryEntry("swap", frm, to, f"cmd-{to}", "ops@host", "applied", why)
    assert await store.compare_and_set_active("field_detector", None, frm, ptr, history=entry)


async def test_prune_keeps_what_redis_protects(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: Redis
) -> None:
    paths = _checkpoints(tmp_path)
    store = VersionStore(redis_client, prefix=redis_prefix)
    await _promote(store, paths["1.0.0"], None, "1.0.0", "first release")
    await store.mark_known_good(
        "field_detector", None, VersionPointer("1.0.0", str(paths["1.0.0"]), "0" * 64, "cmd-1.0.0")
    )
    await _promote(store, paths["1.1.0"], "1.0.0", "1.1.0", "retrained on March captures")
    await _promote(store, paths["1.2.0"], "1.1.0", "1.2.0", "new function codes")
    # Active 1.2.0, previous 1.1.0, known good 1.0.0; --keep 1 alone would keep only 1.5.0.
    guard = await redis_protection(redis_url, redis_prefix, "field_detector", [None])
    assert guard.versions == {"1.2.0", "1.1.0", "1.0.0"}
    assert str(paths["1.2.0"]) in guard.paths
    common = ["--dir", str(tmp_path), "--keep", "1", "--redis-url", redis_url]
    result = await _cli(
        "checkpoints", "prune", *common, "--redis-prefix", redis_prefix, "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "field_detector previous: 1.1.0" in result.output
    assert "would delete 2 files" in result.output
    result = await _cli("checkpoints", "prune", *common, "--redis-prefix", redis_prefix)
    assert result.exit_code == 0, result.output
    left = {v for v, p in paths.items() if p.exists()}
    assert left == {"1.0.0", "1.1.0", "1.2.0", "1.5.0"}


async def test_prune_refuses_when_redis_is_down(tmp_path: Path) -> None:
    paths = _checkpoints(tmp_path)
    result = await _cli(
        "checkpoints",
        "prune",
        "--dir",
        str(tmp_path),
        "--keep",
        "1",
        "--redis-url",
        "redis://127.0.0.1:1/0",
    )
    assert result.exit_code == 2 and "redis" in result.output.lower()
    assert all(p.exists() for p in paths.values())


async def test_show_changelog_from_history(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: Redis
) -> None:
    ckpt = tmp_path / ckpts.checkpoint_filename("1.1.0", 3, 0.95, T0)
    payload = {
        "version": "1.1.0",
        "epoch": 3,
        "timestamp": T0.isoformat(),
        "model_config": {},
        "tags": ["O"],
        "model_state": {},
        "metrics": {"f1": 0.95},
        "lineage": {
            "datasets": {
                "train": {"source": "file", "rows": 10, "sha256": "ab" * 32, "path": "train.jsonl"}
            }
        },
    }
    save_checkpoint(ckpt, payload)
    store = VersionStore(redis_client, prefix=redis_prefix)
    await _promote(store, tmp_path / "a.pt", None, "1.0.0", "first release")
    await _promote(store, ckpt, "1.0.0", "1.1.0", "retrained on March captures")
    await store.append_history(
        "field_detector",
        None,
        HistoryEntry("rollback", "1.1.0", "1.0.0", "cmd-rb", "oncall@host", "applied", "F1 drop"),
    )
    result = await _cli(
        "checkpoints",
        "show",
        "1.1.0",
        "--dir",
        str(tmp_path),
        "--redis-url",
        redis_url,
        "--redis-prefix",
        redis_prefix,
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "ab" * 32 in out
    assert "swap 1.0.0 → 1.1.0 by ops@host (applied): retrained on March captures" in out
    assert "rollback 1.1.0 → 1.0.0 by oncall@host (applied): F1 drop" in out
    assert out.index("swap 1.0.0") < out.index("rollback 1.1.0")  # oldest first
