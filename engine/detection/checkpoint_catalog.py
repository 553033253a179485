"""Checkpoint names, listing and the two rollback look-ups of the operations guide.

Names: ``field_detector_v{version}_epoch{epoch}_f1{f1:.4f}_{YYYYmmdd_HHMMSS}.pt`` for every saved
epoch and ``field_detector_v{version}_latest.pt`` for the newest state of a version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from engine.versioning import parse_version

PREFIX = "field_detector"
_NAME = re.compile(
    r"^field_detector_v(?P<version>[0-9A-Za-z.\-]+?)_epoch(?P<epoch>\d+)"
    r"_f1(?P<f1>\d+\.\d+)_(?P<stamp>\d{8}_\d{6})\.pt$"
)
_STAMP_FORMAT = "%Y%m%d_%H%M%S"


def checkpoint_filename(version: str, epoch: int, f1: float, when: datetime) -> str:
    """Name of an epoch checkpoint (``when`` in UTC)."""
    parse_version(version)
    return f"{PREFIX}_v{version}_epoch{epoch}_f1{f1:.4f}_{when.strftime(_STAMP_FORMAT)}.pt"


def latest_filename(version: str) -> str:
    """Name of the ``_latest`` checkpoint of ``version``."""
    parse_version(version)
    return f"{PREFIX}_v{version}_latest.pt"


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """What a checkpoint's file name tells without opening it."""

    path: Path
    version: str
    epoch: int
    f1: float
    saved_at: datetime

    @property
    def filename(self) -> str:
        return self.path.name


def parse_checkpoint_name(path: str | Path) -> CheckpointInfo | None:
    """Parse an epoch checkpoint's name; ``None`` for ``_latest`` files and foreign names."""
    p = Path(path)
    m = _NAME.match(p.name)
    if m is None:
        return None
    try:
        parse_version(m["version"])
        saved = datetime.strptime(m["stamp"], _STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return CheckpointInfo(p, m["version"], int(m["epoch"]), float(m["f1"]), saved)


def list_checkpoints(checkpoint_dir: str | Path) -> list[CheckpointInfo]:
    """Epoch checkpoints in ``checkpoint_dir``, newest first (by timestamp, then epoch)."""
    d = Path(checkpoint_dir)
    if not d.is_dir():
        return []
    infos = [i for p in d.glob(f"{PREFIX}_v*.pt") if (i := parse_checkpoint_name(p))]
    return sorted(infos, key=lambda i: (i.saved_at, i.epoch, i.f1), reverse=True)


def previous_checkpoint(checkpoint_dir: str | Path) -> CheckpointInfo | None:
    """Scenario 1 of the guide: the checkpoint before the newest one, if any."""
    infos = list_checkpoints(checkpoint_dir)
    return infos[1] if len(infos) > 1 else None


def find_checkpoint(
    checkpoint_dir: str | Path, version: str, min_f1: float = 0.0
) -> CheckpointInfo | None:
    """Scenario 2 of the guide: the newest checkpoint of ``version`` with F1 ≥ ``min_f1``."""
    parse_version(version)
    for info in list_checkpoints(checkpoint_dir):
        if info.version == version and info.f1 >= min_f1:
            return info
    return None
