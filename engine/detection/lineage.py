"""Lineage of a trained artifact: which data, which code, which libraries, which parameters.

Every checkpoint (and every saved rule set) carries a ``lineage`` dict of plain values::

    datasets    {"train": {...}, "val": {...}}  per set: rows, content_sha256 (canonical
                serialisation of the frames actually used) and, when read from a file,
                path and sha256 of the file's bytes
    code        package, package_version, git_commit, git_dirty
    libraries   {"python": ..., "torch": ..., ...}
    parameters  training parameters and model settings
    parent      the checkpoint training resumed from (path, version, sha256), or None
    created_at  ISO-8601 UTC

The module imports neither torch nor anything heavy, so the translation store can use it too.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from engine.artifacts import sha256_file, sidecar_path

PACKAGE = "cronos-pipeline"
LIBRARIES = ("torch", "pytorch-crf", "numpy", "numba", "pydantic", "orjson")
_REPO_ROOT = Path(__file__).resolve().parents[2]


def canonical_frames_sha256(frames: Iterable[Any]) -> tuple[str, int]:
    """sha256 and row count of frames in the dataset file's own canonical form.

    Each frame becomes the JSON line ``save_jsonl`` would write (``frame_hex``, ``fields``,
    optional ``protocol``), so a file and the same frames held in memory hash alike.
    """
    h = hashlib.sha256()
    rows = 0
    for f in frames:
        row: dict[str, Any] = {"frame_hex": f.message.hex(), "fields": [list(s) for s in f.spans]}
        if f.protocol:
            row["protocol"] = f.protocol
        h.update(orjson.dumps(row) + b"\n")
        rows += 1
    return h.hexdigest(), rows


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Path, sha256 of the bytes and number of non-blank lines of a dataset file."""
    p = Path(path)
    with open(p, "rb") as fh:
        rows = sum(1 for line in fh if line.strip())
    return {"path": str(p), "sha256": sha256_file(p), "rows": rows}


def dataset_entry(frames: Iterable[Any], path: str | Path | None = None) -> dict[str, Any]:
    """Lineage of one dataset: its content hash and rows, plus its file when it came from one."""
    digest, rows = canonical_frames_sha256(frames)
    entry: dict[str, Any] = {"source": "memory", "rows": rows, "content_sha256": digest}
    if path is not None:
        info = file_fingerprint(path)
        # rows counts the frames used; file_rows the file's lines (differ when a caller subsets).
        entry |= {"source": "file", "path": info["path"], "sha256": info["sha256"]}
        entry["file_rows"] = info["rows"]
    return entry


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """Package version and git commit of the running code (``None`` where unknown)."""
    try:
        version: str | None = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = None
    return {"package": PACKAGE, "package_version": version, **_git_state(_REPO_ROOT)}


def _git_state(root: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None  # not a checkout, or no git installed (a wheel in a container)
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that shape training results."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def parent_entry(path: str | Path | None, version: str | None) -> dict[str, Any] | None:
    """The checkpoint a model was resumed from, with the digest its sidecar records."""
    if path is None:
        return None
    p = Path(path)
    try:
        digest: str | None = sidecar_path(p).read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        digest = None
    return {"path": str(p), "version": version, "sha256": digest}


def build_lineage(
    datasets: Mapping[str, dict[str, Any]],
    parameters: Mapping[str, Any],
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a lineage dict (primitives only, safe for ``torch.load(weights_only=True)``)."""
    return {
        "datasets": {k: dict(v) for k, v in datasets.items()},
        "code": dict(code_version()),
        "libraries": dict(library_versions()),
        "parameters": _primitive(dict(parameters)),
        "parent": parent,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _primitive(value: Any) -> Any:
    """Turn paths and other objects into strings so the dict round-trips through JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _primitive(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_primitive(v) for v in value]
    return str(value)


def rules_lineage(rules: Any) -> dict[str, Any]:
    """Lineage of a translation rule set: its example pairs (test cases) stand in for data."""
    rows = [
        orjson.dumps(t.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        for t in rules.test_cases
    ]
    digest = hashlib.sha256(b"\n".join(rows)).hexdigest()
    examples = {"source": "memory", "rows": len(rows), "content_sha256": digest}
    parameters = {
        "generator": rules.generator,
        "pair": f"{rules.source_protocol}->{rules.target_protocol}",
        "accuracy": rules.accuracy,
    }
    return build_lineage({"test_cases": examples}, parameters)
