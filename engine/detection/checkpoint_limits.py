"""What a checkpoint may ask for, checked before anything big is allocated for it.

A checkpoint is untrusted input: a replica loads whatever candidate it is pointed at, and all
replicas load it at the same moment. Two things used to let a small file cost a lot of memory:
DEFLATE-compressed zip entries, which ``torch.load`` inflates in full (a 270 KiB file grew the
process by 260 MiB), and an outsized ``model_config``, which ``BiLSTMCRF(**config)`` allocated
before the weights were compared with it (a 1.7 KiB file: 406 MiB). So:

* :func:`check_archive` reads only the zip directory of the bytes and refuses, before
  ``torch.load`` sees them, anything that is not torch's layout of *stored* (uncompressed)
  entries within the caps below. Stored entries are copies of bytes inside the file, so what
  ``torch.load`` allocates is then bounded by the file's own size.
* :func:`check_model_config` bounds every constructor argument and the parameter count the
  config implies (computed, not built), and :func:`check_model_state` compares the weights'
  shapes with that config, so the network built afterwards is exactly as big as weights that
  already passed the archive caps.

Caps, and why:

* :data:`MAX_CHECKPOINT_BYTES` (512 MiB): the largest model :func:`check_model_config` accepts
  (:data:`MAX_MODEL_PARAMETERS`, 2**25 float32 parameters, 128 MiB) together with the Adam
  moments a training checkpoint carries (two more copies) is 384 MiB; the rest is headroom for
  scheduler state and metadata. The shipped model is 0.43 MB, a default-settings training
  checkpoint 1.3 MB.
* :data:`MAX_ARCHIVE_ENTRIES` (10,000) and :data:`MAX_CENTRAL_DIRECTORY_BYTES` (1 MiB): a
  training checkpoint has 94 entries (one per tensor) and a 7 KiB directory; the directory is
  checked from the zip's end record before :mod:`zipfile` parses it.
* :data:`MAX_PICKLE_BYTES` (1 MiB): ``data.pkl`` is 11 KB with optimizer state; unpickling
  makes Python objects worth up to ~64x the pickle's bytes, so this bounds that too.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import torch

from engine.detection.model import NUM_BYTE_FEATURES
from engine.errors import CheckpointError, UnsafeCheckpointError

MAX_CHECKPOINT_BYTES: Final = 512 * 2**20
MAX_ARCHIVE_ENTRIES: Final = 10_000
MAX_CENTRAL_DIRECTORY_BYTES: Final = 2**20
MAX_PICKLE_BYTES: Final = 2**20
MAX_MODEL_PARAMETERS: Final = 2**25
MAX_TAGS: Final = 4096
_BYTE_VOCAB = 256  # nn.Embedding(256, embedding_dim)

_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64_LOCATOR_SIZE = 20
_EOCD64 = b"PK\x06\x06"
_EOCD64_SIZE = 56
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ValueError,
    OverflowError,
    EOFError,
    OSError,
    struct.error,
    NotImplementedError,
)


@dataclass(frozen=True)
class Bound:
    """Type and inclusive range of one ``model_config`` value."""

    kind: type[int] | type[float]
    low: int | float
    high: int | float


#: Every :class:`~engine.detection.model.BiLSTMCRF` constructor argument, bounded. Wider than
#: :class:`~engine.core.config.DetectorSettings` allows per key; :data:`MAX_MODEL_PARAMETERS`
#: is what binds in practice.
MODEL_CONFIG_BOUNDS: Final[Mapping[str, Bound]] = MappingProxyType(
    {
        "num_tags": Bound(int, 1, MAX_TAGS),
        "embedding_dim": Bound(int, 1, 4096),
        "hidden_size": Bound(int, 1, 4096),
        "num_layers": Bound(int, 1, 8),
        "dropout": Bound(float, 0.0, 1.0),
        "boundary_head": Bound(int, 0, 1),
    }
)
#: Keys a ``model_config`` may leave out (checkpoints written before they existed).
OPTIONAL_MODEL_CONFIG_KEYS: Final = frozenset({"boundary_head"})


def _refuse(name: str, rule: str, why: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(f"{name}: refused ({rule}): {why}", rule=rule)


def _show(value: object) -> str:
    """A short repr (a huge int's repr alone can be refused by Python or cost megabytes)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------- archive


def _directory_claims(data: bytes) -> tuple[int, int] | None:
    """(entries, central directory bytes) the end records claim; None without an end record.

    Where a zip64 end record is present (torch writes one) the larger of each pair counts, as
    :mod:`zipfile` would believe the zip64 one.
    """
    at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - 0xFFFF), len(data) - _EOCD_SIZE + 4)
    if at < 0:
        return None
    entries, cd_size = struct.unpack_from("<HI", data, at + 10)
    loc = at - _EOCD64_LOCATOR_SIZE
    rec = loc - _EOCD64_SIZE
    if rec >= 0 and data[loc : loc + 4] == _EOCD64_LOCATOR and data[rec : rec + 4] == _EOCD64:
        entries64, cd_size64 = struct.unpack_from("<QQ", data, rec + 32)
        entries, cd_size = max(entries, entries64), max(cd_size, cd_size64)
    return entries, cd_size


def check_size(size: int, *, name: str, max_bytes: int = MAX_CHECKPOINT_BYTES) -> None:
    """Refuse a checkpoint file of more than ``max_bytes`` (checked before it is read).

    Raises:
        UnsafeCheckpointError: ``rule`` is ``too_large``.
    """
    if size > max_bytes:
        raise _refuse(name, "too_large", f"{size} bytes, over the {max_bytes}-byte cap")


def check_archive(data: bytes, *, name: str, max_bytes: int = MAX_CHECKPOINT_BYTES) -> None:
    """Refuse bytes that ``torch.load`` could inflate beyond their own size.

    Only the zip directory is read. The bytes must be a zip of stored entries (torch's
    layout) whose declared sizes add up to no more than the bytes themselves.

    Args:
        data: The checkpoint file's bytes.
        name: Shown in errors (the file name).
        max_bytes: Cap on the file and on its declared uncompressed total.

    Raises:
        UnsafeCheckpointError: ``rule`` says which check failed: ``too_large``, ``not_zip``,
            ``too_many_entries``, ``central_directory``, ``compressed_entry``,
            ``declared_size`` or ``pickle_size``.
    """
    check_size(len(data), name=name, max_bytes=max_bytes)
    claims = _directory_claims(data)
    if claims is None:
        raise _refuse(
            name,
            "not_zip",
            "not a torch zip archive (truncated, or another format such as a plain pickle)",
        )
    entries, cd_size = claims
    if entries > MAX_ARCHIVE_ENTRIES:
        raise _refuse(
            name, "too_many_entries", f"{entries} entries, over the cap of {MAX_ARCHIVE_ENTRIES}"
        )
    if cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise _refuse(
            name,
            "central_directory",
            f"{cd_size}-byte zip directory, over the cap of {MAX_CENTRAL_DIRECTORY_BYTES}",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except _ZIP_ERRORS as exc:
        raise _refuse(name, "not_zip", f"unreadable zip archive (truncated?): {exc}") from exc
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        raise _refuse(
            name,
            "too_many_entries",
            f"{len(infos)} entries, over the cap of {MAX_ARCHIVE_ENTRIES}",
        )
    total = 0
    for info in infos:
        entry = _show(info.filename)
        if info.compress_type != zipfile.ZIP_STORED:
            raise _refuse(
                name,
                "compressed_entry",
                f"entry {entry} is compressed (method {info.compress_type}); torch writes "
                "stored entries, and inflating one could take any amount of memory",
            )
        if info.compress_size != info.file_size:
            raise _refuse(
                name,
                "declared_size",
                f"stored entry {entry} declares {info.file_size} bytes but holds "
                f"{info.compress_size}",
            )
        if info.filename.endswith(".pkl") and info.file_size > MAX_PICKLE_BYTES:
            raise _refuse(
                name,
                "pickle_size",
                f"entry {entry} is {info.file_size} bytes, over the {MAX_PICKLE_BYTES}-byte cap",
            )
        total += info.file_size
    if total > max_bytes:
        raise _refuse(
            name, "too_large", f"entries declare {total} bytes, over the {max_bytes}-byte cap"
        )
    if total > len(data):
        raise _refuse(
            name,
            "declared_size",
            f"entries declare {total} bytes, more than the file's {len(data)}: stored entries "
            "cannot, so their sizes lie or they overlap",
        )


# ---------------------------------------------------------------------------------- model


def parameter_count(config: Mapping[str, Any]) -> int:
    """Number of parameters ``BiLSTMCRF(**config)`` would have, computed without building it.

    Args:
        config: A ``model_config`` with integer ``num_tags``, ``embedding_dim``, ``hidden_size``
            and ``num_layers``.
    """
    tags, emb = int(config["num_tags"]), int(config["embedding_dim"])
    hidden, layers = int(config["hidden_size"]), int(config["num_layers"])
    gates = 4 * hidden  # LSTM: input, forget, cell, output

    def lstm(in_dim: int) -> int:  # weight_ih, weight_hh, bias_ih, bias_hh
        return gates * in_dim + gates * hidden + 2 * gates

    first = lstm(emb + NUM_BYTE_FEATURES)
    rest = (layers - 1) * lstm(2 * hidden)
    emission = 2 * hidden * tags + tags
    crf = tags * tags + 2 * tags
    head = 2 * hidden + 1 if config.get("boundary_head") else 0
    return _BYTE_VOCAB * emb + 2 * (first + rest) + emission + crf + head


def expected_state_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """``model_state`` keys and tensor shapes of ``BiLSTMCRF(**config)``, in state-dict order.

    Args:
        config: A ``model_config`` that passed :func:`check_model_config`.
    """
    tags, emb = int(config["num_tags"]), int(config["embedding_dim"])
    hidden, layers = int(config["hidden_size"]), int(config["num_layers"])
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (_BYTE_VOCAB, emb)}
    for direction in ("forward_lstms", "backward_lstms"):
        in_dim = emb + NUM_BYTE_FEATURES
        for i in range(layers):
            prefix = f"{direction}.{i}."
            shapes[prefix + "weight_ih_l0"] = (4 * hidden, in_dim)
            shapes[prefix + "weight_hh_l0"] = (4 * hidden, hidden)
            shapes[prefix + "bias_ih_l0"] = (4 * hidden,)
            shapes[prefix + "bias_hh_l0"] = (4 * hidden,)
            in_dim = 2 * hidden
    shapes["emission.weight"] = (tags, 2 * hidden)
    shapes["emission.bias"] = (tags,)
    shapes["crf.start_transitions"] = (tags,)
    shapes["crf.end_transitions"] = (tags,)
    shapes["crf.transitions"] = (tags, tags)
    if config.get("boundary_head"):
        shapes["boundary.weight"] = (1, 2 * hidden)
        shapes["boundary.bias"] = (1,)
    return shapes


def check_model_config(
    config: object, *, name: str, max_parameters: int = MAX_MODEL_PARAMETERS
) -> dict[str, Any]:
    """Refuse a ``model_config`` that is malformed or asks for too big a network.

    Args:
        config: The checkpoint's ``model_config``.
        name: Shown in errors (the file name).
        max_parameters: Cap on the parameter count the config implies.

    Returns:
        A copy of ``config``, safe to pass to ``BiLSTMCRF(**config)``.

    Raises:
        UnsafeCheckpointError: ``rule`` is ``model_config`` for a missing, unknown, mistyped
            or out-of-range key (the message names the key and its bounds), ``parameters``
            when the implied parameter count is over ``max_parameters``.
    """
    if not isinstance(config, Mapping):
        raise _refuse(name, "model_config", "model_config is not a dict")
    unknown = [k for k in config if k not in MODEL_CONFIG_BOUNDS]
    if unknown:
        shown = ", ".join(_show(k) for k in unknown[:5])
        raise _refuse(
            name,
            "model_config",
            f"unknown model_config key(s) {shown}; known: {', '.join(MODEL_CONFIG_BOUNDS)}",
        )
    for key, bound in MODEL_CONFIG_BOUNDS.items():
        if key not in config:
            if key in OPTIONAL_MODEL_CONFIG_KEYS:
                continue
            raise _refuse(name, "model_config", f"model_config has no {key!r}")
        value = config[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (bound.kind is int and not isinstance(value, int))
        ):
            raise _refuse(
                name,
                "model_config",
                f"model_config[{key!r}] is {type(value).__name__}, expected {bound.kind.__name__}",
            )
        if not bound.low <= value <= bound.high:  # NaN fails too
            raise _refuse(
                name,
                "model_config",
                f"model_config[{key!r}] = {_show(value)} is outside {bound.low}..{bound.high}",
            )
    count = parameter_count(config)
    if count > max_parameters:
        raise _refuse(
            name,
            "parameters",
            f"model_config implies {count:,} parameters, over the cap of {max_parameters:,}",
        )
    return dict(config)


def check_tags(tags: object, config: Mapping[str, Any], *, name: str) -> None:
    """Refuse a tag list that is not strings, too long, or not the config's ``num_tags`` long.

    Raises:
        CheckpointError: the list does not fit.
    """
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CheckpointError(f"{name}: tags is not a list of strings")
    if len(tags) > MAX_TAGS:
        raise CheckpointError(f"{name}: {len(tags)} tags, over the cap of {MAX_TAGS}")
    if len(tags) != config["num_tags"]:
        raise CheckpointError(f"{name}: model has {config['num_tags']} tags, list has {len(tags)}")


def check_model_state(state: object, config: Mapping[str, Any], *, name: str) -> None:
    """Refuse weights whose keys, types or shapes are not those ``config`` implies.

    Args:
        state: The checkpoint's ``model_state``.
        config: Its ``model_config``, already through :func:`check_model_config`.
        name: Shown in errors (the file name).

    Raises:
        CheckpointError: a key is missing or unexpected, or a value is not a float tensor of
            the implied shape.
    """
    prefix = f"{name}: does not describe a valid model:"
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{prefix} model_state is not a dict")
    expected = expected_state_shapes(config)
    missing = [k for k in expected if k not in state]
    unexpected = [_show(k) for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{prefix} model_state is missing {missing[:5]} and has unexpected {unexpected[:5]}"
        )
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise CheckpointError(f"{prefix} model_state[{key!r}] is not a float tensor")
        if tuple(value.shape) != shape:
            raise CheckpointError(
                f"{prefix} model_state[{key!r}] has shape {tuple(value.shape)}, the config "
                f"implies {shape}"
            )
