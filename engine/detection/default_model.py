"""The field detector shipped with the repository (see ``models/field_detector/DATA_CARD.md``).

``Config().detector.model_path`` stays ``None`` so nothing loads a model by surprise; callers
that want the shipped one use :data:`DEFAULT_MODEL_PATH` or :func:`load_default_detector`.
"""

from __future__ import annotations

from pathlib import Path

from engine.core.config import Config
from engine.detection.field_detector import FieldDetector
from engine.errors import CheckpointError

#: Version of the shipped checkpoint (its file name carries it, as the artifact root's layout
#: wants: a worker seeds its Redis pointer with it when there is none).
DEFAULT_MODEL_VERSION = "1.0.0"
#: Repository-relative path of the default checkpoint (a ``.sha256`` sidecar sits beside it).
DEFAULT_MODEL_PATH = (
    Path("models/field_detector") / f"field_detector_v{DEFAULT_MODEL_VERSION}_latest.pt"
)
_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_model_path() -> Path:
    """Absolute path of the default checkpoint (resolved from the package, not the cwd)."""
    return _REPO_ROOT / DEFAULT_MODEL_PATH


async def load_default_detector(config: Config | None = None) -> FieldDetector:
    """A detector with the shipped default model loaded (checksum verified).

    Raises:
        CheckpointError: the model file is missing, or fails its checksum or format checks.
    """
    path = default_model_path()
    if not path.is_file():
        raise CheckpointError(f"default model not found at {path} (run `make model`)")
    detector = FieldDetector(config)
    await detector.load_checkpoint(path)
    return detector
