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

Loading verifies the sha256 (the sidecar's, or one the caller expects) first, so a tampered or
truncated file is refused before torch reads a byte of it; then
:mod:`engine.detection.checkpoint_limits` refuses, before ``torch.load`` sees the bytes, an
archive that could inflate beyond its own size (compressed entries, lying sizes, too many
entries, over :data:`MAX_CHECKPOINT_BYTES`), and, before any network is built, a
``model_config`` out of bounds or weights that do not fit it (:func:`restore_model`). The bytes
hashed are the bytes loaded: the file is read once.
"""

from __future__ import annotations

import io
import os
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from engine.artifacts import sidecar_digest, verify_digest, write_with_sidecar
from engine.detection.checkpoint_limits import (
    MAX_CHECKPOINT_BYTES,
    check_archive,
    check_model_config,
    check_model_state,
    check_size,
    check_tags,
)
from engine.detection.model import BiLSTMCRF
from engine.detection.tags import TagSet
from engine.errors import (
    CheckpointError,
    ChecksumMismatchError,
    DatasetError,
    IncompatibleCheckpointError,
    UnsafeCheckpointError,
)
from engine.versioning import validate_version

__all__ = [
    "FORMAT_VERSION",
    "KIND",
    "MAX_CHECKPOINT_BYTES",
    "build_payload",
    "load_checkpoint_bytes",
    "load_checkpoint_payload",
    "restore_model",
    "save_checkpoint",
]

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


def load_checkpoint_payload(
    path: str | Path,
    *,
    expected_sha256: str | None = None,
    max_bytes: int = MAX_CHECKPOINT_BYTES,
) -> dict[str, Any]:
    """Read a checkpoint file once, verify it against its sidecar, and check it.

    Args:
        path: The checkpoint; its ``.sha256`` sidecar must sit beside it.
        expected_sha256: The digest the caller already verified or expects (e.g. from a
            control command); refused unless the sidecar records the same one.
        max_bytes: Largest file accepted; a bigger one is refused before it is read.

    Returns:
        The payload (see the module docstring), checked as :func:`load_checkpoint_bytes` does.

    Raises:
        ChecksumMismatchError: bytes do not match the sidecar (or it is missing), or the
            sidecar does not record ``expected_sha256``.
        IncompatibleCheckpointError: written by an unknown format version or another kind.
        UnsafeCheckpointError: over ``max_bytes``, or not torch's stored-zip layout within
            the caps; ``exc.rule`` names the check.
        CheckpointError: the file is missing, truncated, not a checkpoint, or carries code.
    """
    p = Path(path)
    data = _read_bounded(p, max_bytes)
    digest = sidecar_digest(p)
    if expected_sha256 is not None and expected_sha256.strip().lower() != digest:
        raise ChecksumMismatchError(
            f"{p.name}: sidecar records sha256 {digest[:16]}…, expected "
            f"{expected_sha256[:16]}… (the artifact was replaced)"
        )
    verify_digest(data, digest, name=p.name)
    return _load_verified(data, p.name, max_bytes)


def load_checkpoint_bytes(
    data: bytes,
    *,
    expected_sha256: str | None = None,
    name: str = "checkpoint",
    max_bytes: int = MAX_CHECKPOINT_BYTES,
) -> dict[str, Any]:
    """Check and load a checkpoint from bytes already in memory.

    For a caller that read and hashed the file itself (the stream layer checks an artifact's
    sha256 against the control command): the bytes it verified are the bytes loaded, with no
    second read of a file that may have changed in between.

    Args:
        data: The checkpoint file's bytes.
        expected_sha256: When given, ``data`` must hash to it (hex, any case).
        name: Shown in errors and logs (the file name).
        max_bytes: Largest checkpoint accepted, and cap on its declared uncompressed size.

    Returns:
        The payload (see the module docstring) with its format, kind and required keys
        checked. Its ``model_config``, tags and weights are checked by :func:`restore_model`,
        before it builds the network (reading the metadata builds none).

    Raises:
        ChecksumMismatchError: ``data`` does not hash to ``expected_sha256``.
        IncompatibleCheckpointError: written by an unknown format version or another kind.
        UnsafeCheckpointError: over ``max_bytes``, or not torch's stored-zip layout within
            the caps of :func:`~engine.detection.checkpoint_limits.check_archive`;
            ``exc.rule`` names the check.
        CheckpointError: truncated, not a checkpoint, or carries code.
    """
    check_size(len(data), name=name, max_bytes=max_bytes)
    if expected_sha256 is not None:
        verify_digest(data, expected_sha256, name=name, source="expected")
    return _load_verified(data, name, max_bytes)


def _read_bounded(p: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused before reading when it is over ``max_bytes``."""
    try:
        with p.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            check_size(size, name=p.name, max_bytes=max_bytes)
            # Not read(max_bytes): that allocates the cap up front. A file that grew since the
            # fstat reads short and fails its checksum.
            data = fh.read(size)
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint not found: {p}") from exc
    except OSError as exc:
        raise CheckpointError(f"{p.name}: cannot read checkpoint: {exc}") from exc
    return data


def _load_verified(data: bytes, name: str, max_bytes: int) -> dict[str, Any]:
    """Archive checks, ``torch.load(weights_only=True)`` of ``data``, payload checks."""
    check_archive(data, name=name, max_bytes=max_bytes)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses globals, so a pickle carrying code lands here unexecuted.
        raise CheckpointError(
            f"{name}: refused: contains objects other than tensors and primitives ({exc})"
        ) from exc
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise CheckpointError(f"{name}: unreadable or truncated checkpoint: {exc}") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{name}: not a checkpoint (top level is not a dict)")
    fmt = payload.get("format_version")
    if fmt != FORMAT_VERSION:
        raise IncompatibleCheckpointError(
            f"{name}: format version {fmt!r}; this code reads version {FORMAT_VERSION}"
        )
    if payload.get("kind") != KIND:
        raise IncompatibleCheckpointError(f"{name}: not a {KIND} checkpoint")
    for key, typ in _REQUIRED.items():
        if not isinstance(payload.get(key), typ):
            raise CheckpointError(f"{name}: missing or mistyped key {key!r}")
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
    """The checkpoint dict of a model: primitives and CPU tensors only.

    Raises:
        CheckpointError: the model is one the loader would refuse (its config is out of the
            bounds of :func:`~engine.detection.checkpoint_limits.check_model_config`).
    """
    try:
        check_model_config(model.config, name="model")
    except UnsafeCheckpointError as exc:
        raise CheckpointError(f"refusing to write a checkpoint no loader accepts: {exc}") from exc
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
    payload: dict[str, Any], path: Path | str, device: torch.device
) -> tuple[BiLSTMCRF, TagSet, str]:
    """Rebuild the network, tag set and version a checked payload describes.

    Before the network is built, the config is bounded
    (:func:`~engine.detection.checkpoint_limits.check_model_config`), the tag list and the
    weights' shapes are compared with it, so building allocates no more than the weights
    already loaded.

    Args:
        payload: A payload from :func:`load_checkpoint_payload` or :func:`load_checkpoint_bytes`.
        path: The checkpoint path, or a name, shown in errors.
        device: Where the network goes.

    Raises:
        UnsafeCheckpointError: the config has an unknown, missing, mistyped or out-of-range key
            (``rule`` ``model_config``) or implies too many parameters (``parameters``).
        CheckpointError: the config, weights, tags or version do not fit together.
    """
    name = path.name if isinstance(path, Path) else path
    config = check_model_config(payload.get("model_config"), name=name)
    check_tags(payload.get("tags"), config, name=name)
    check_model_state(payload.get("model_state"), config, name=name)
    try:
        tagset = TagSet.from_tags(payload["tags"])
        model = BiLSTMCRF(**config).to(device)
        model.load_state_dict(payload["model_state"])
        version = validate_version(payload["version"])
    except (DatasetError, TypeError, RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{name}: does not describe a valid model: {exc}") from exc
    model.eval()
    return model, tagset, version
