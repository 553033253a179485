"""What a worker activates when Redis has no detector pointer yet, and the shipped model's copy.

Three cases, decided once from the settings (:func:`detector_seed`):

* ``CRONOS_INITIAL_DETECTOR_VERSION`` set: that version, read from the artifact root as is;
* else ``CRONOS_SEED_DEFAULT_MODEL`` (on by default): the model shipped with the repository
  (:mod:`engine.detection.default_model`), first copied into the artifact root with its sidecar
  (:func:`install_shipped_detector`) so that the pointer names a file under the root like any
  other;
* else nothing: a worker that then finds no pointer fails at start
  (:class:`NothingToLoadError`) instead of holding its partitions and waiting for ever.

Either seed goes into Redis by compare-and-set from "no pointer"
(:meth:`streams.control.activation.Activator.reconcile`): of N workers starting together one
wins, the others load what it set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.artifacts import read_verified, sha256_bytes, write_with_sidecar
from engine.detection.default_model import DEFAULT_MODEL_VERSION, default_model_path
from engine.errors import EngineError
from streams.control.artifact_root import ArtifactRoot, verify_sidecar
from streams.errors import CommandRejectedError, SettingsError
from streams.worker.registry import DETECTOR
from streams.worker.settings import WorkerSettings


class NothingToLoadError(SettingsError):
    """No detector pointer in Redis, no initial version and seeding switched off."""


@dataclass(frozen=True)
class Seed:
    """The detector a worker puts into an empty pointer.

    Attributes:
        version: Version the pointer will name.
        shipped: Copy the shipped default model into the artifact root first.
    """

    version: str
    shipped: bool = False


def detector_seed(settings: WorkerSettings) -> Seed | None:
    """The seed the settings ask for, or ``None`` when an empty pointer must stay empty."""
    if settings.initial_detector_version is not None:
        return Seed(settings.initial_detector_version)
    if settings.seed_default_model:
        return Seed(DEFAULT_MODEL_VERSION, shipped=True)
    return None


def nothing_to_load() -> NothingToLoadError:
    """The error of a worker that finds no pointer and may not seed one."""
    return NothingToLoadError(
        "no field_detector pointer in Redis and nothing to seed it with: "
        "CRONOS_INITIAL_DETECTOR_VERSION is unset and CRONOS_SEED_DEFAULT_MODEL is false — "
        "set CRONOS_SEED_DEFAULT_MODEL=true (the shipped model) or "
        "CRONOS_INITIAL_DETECTOR_VERSION to a version under CRONOS_ARTIFACT_ROOT"
    )


def install_shipped_detector(root: ArtifactRoot, source: Path | None = None) -> tuple[Path, str]:
    """Copy the shipped default model and its sidecar into ``root``, verified; blocking.

    The copy is written atomically (temporary files renamed into place), so workers sharing
    one root may copy at the same time: each writes the same bytes. A file already there that
    verifies with the shipped digest is kept as it is.

    Args:
        root: The artifact root.
        source: The checkpoint to install (default: the shipped one).

    Returns:
        The path of the copy under ``root`` and its sha256.

    Raises:
        CommandRejectedError: ``artifact_missing`` (no shipped model, or it cannot be read),
            ``checksum_missing`` / ``checksum_mismatch`` (the shipped model fails its sidecar,
            or the root already holds a *different* detector of that version: it is never
            overwritten).
    """
    source = source or default_model_path()
    try:
        data = read_verified(source)  # the bytes copied are the bytes checked
    except FileNotFoundError as exc:
        raise CommandRejectedError(
            "artifact_missing", f"shipped default model not found at {source}"
        ) from exc
    except (EngineError, OSError) as exc:
        raise CommandRejectedError("checksum_mismatch", f"shipped default model: {exc}") from exc
    shipped_sha = sha256_bytes(data)
    target = root.detector_path(DEFAULT_MODEL_VERSION)
    if target.is_file():
        try:
            present: str | None = verify_sidecar(target)
        except CommandRejectedError:
            present = None  # a half-written or damaged copy: replaced below
        if present == shipped_sha:
            return target, present
        if present is not None:
            raise CommandRejectedError(
                "checksum_mismatch",
                f"{target.name} under the artifact root is not the shipped default model; "
                "remove it or set CRONOS_INITIAL_DETECTOR_VERSION",
            )
    try:
        write_with_sidecar(target, data)
    except OSError as exc:
        raise CommandRejectedError(
            "artifact_missing", f"cannot copy the shipped default model into the root: {exc}"
        ) from exc
    return root.resolve_verified(DETECTOR, DEFAULT_MODEL_VERSION)
