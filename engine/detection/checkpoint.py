"""Checkpoint files: primitives only, checksummed, loaded with ``weights_only=True``.

A checkpoint is a dict of plain values and tensors — never a pickled class::

    format_version  int        FORMAT_VERSION of the writer
    kind            str        "field_detector"
    version         str        semantic version of the model
    epoch           int
    timestamp       str        ISO-8601 UTC
    model_config    dict       BiLSTMCRF constructor arguments
    tags            list[str]  the tag set, index order
    model_state     dict       state_dict tensors
    optimizer_state dict|None  torch optimizer state (for resuming training)
    scheduler_state dict|None  LR scheduler state
    metrics         dict       validation scores at this epoch (f1, precision, recall, …)
    training        dict       training parameters and data sizes

Loading verifies the sha256 sidecar first, so a tampered or truncated file is refused before
torch reads a byte of it.
"""

from __future__ import annotations

import io
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from engine.artifacts import read_verified, write_with_sidecar
from engine.detection.model import BiLSTMCRF
from engine.detection.tags import TagSet
from engine.errors import CheckpointError, DatasetError, IncompatibleCheckpointError
from engine.versioning import validate_version

FORMAT_VERSION = 1
KIND = "field_detector"
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format_version": int,
    "kind": str,
    "version": str,
    "epoch": int,
    "timestamp": str,
    "model_config": dict,
    "tags": list,
    "model_state": dict,
    "metrics": dict,
}


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> str:
    """Serialise ``payload`` to ``path`` with its sidecar; returns the sha256."""
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, "kind": KIND, **payload}, buf)
    return write_with_sidecar(path, buf.getvalue())


def load_checkpoint_payload(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint.

    Raises:
        ChecksumMismatchError: bytes do not match the sidecar (or it is missing).
        IncompatibleCheckpointError: written by an unknown format version or another kind.
        CheckpointError: the file is missing, truncated, not a checkpoint, or carries code.
    """
    p = Path(path)
    try:
        data = read_verified(p)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint not found: {p}") from exc
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses globals, so a pickle carrying code lands here unexecuted.
        raise CheckpointError(
            f"{p.name}: refused: contains objects other than tensors and primitives ({exc})"
        ) from exc
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise CheckpointError(f"{p.name}: unreadable or truncated checkpoint: {exc}") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{p.name}: not a checkpoint (top level is not a dict)")
    fmt = payload.get("format_version")
    if fmt != FORMAT_VERSION:
        raise IncompatibleCheckpointError(
            f"{p.name}: format version {fmt!r}; this code reads version {FORMAT_VERSION}"
        )
    if payload.get("kind") != KIND:
        raise IncompatibleCheckpointError(f"{p.name}: not a {KIND} checkpoint")
    for key, typ in _REQUIRED.items():
        if not isinstance(payload.get(key), typ):
            raise CheckpointError(f"{p.name}: missing or mistyped key {key!r}")
    return payload


def build_payload(
    model: BiLSTMCRF,
    tagset: TagSet,
    *,
    version: str,
    epoch: int,
    metrics: dict[str, float],
    optimizer_state: dict[str, Any] | None,
    scheduler_state: dict[str, Any] | None,
    training: dict[str, Any] | None,
    lineage: dict[str, Any],
) -> dict[str, Any]:
    """The checkpoint dict of a model: primitives and CPU tensors only."""
    return {
        "version": version,
        "epoch": epoch,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_config": dict(model.config),
        "tags": list(tagset.tags),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer_state,
        "scheduler_state": scheduler_state,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "training": dict(training or {}),
        "lineage": dict(lineage),
    }


def restore_model(
    payload: dict[str, Any], path: Path, device: torch.device
) -> tuple[BiLSTMCRF, TagSet, str]:
    """Rebuild the network, tag set and version a checked payload describes.

    Raises:
        CheckpointError: the config, weights, tags or version do not fit together.
    """
    try:
        tagset = TagSet.from_tags(payload["tags"])
        model = BiLSTMCRF(**payload["model_config"]).to(device)
        model.load_state_dict(payload["model_state"])
        version = validate_version(payload["version"])
    except (DatasetError, TypeError, RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path.name}: does not describe a valid model: {exc}") from exc
    if model.num_tags != len(tagset):
        raise CheckpointError(
            f"{path.name}: model has {model.num_tags} tags, list has {len(tagset)}"
        )
    model.eval()
    return model, tagset, version
