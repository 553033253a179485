"""``FieldDetector``: the public API of field boundary detection (see the operations guide).

Typical use::

    detector = FieldDetector(Config())
    await detector.initialize()
    history = detector.train(training_data, validation_data, num_epochs=20,
                             checkpoint_dir="checkpoints/field_detector")
    fields = await detector.detect_boundaries(b"\\x00\\x01\\x00\\x00\\x00\\x06\\x01\\x03...")

Training and inference are CPU/GPU-bound and synchronous underneath; the ``async`` methods exist
because the guide awaits them. A stream processor should call :meth:`detect_boundaries_batch`
from a worker thread so its event loop keeps serving heartbeats.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from engine.artifact_lock import shared_lock
from engine.core.config import Config
from engine.detection.boundary import FieldBoundary
from engine.detection.cache import CacheStats, ResultCache, weights_token
from engine.detection.checkpoint import (
    build_payload,
    load_checkpoint_bytes,
    load_checkpoint_payload,
    restore_model,
    save_checkpoint,
)
from engine.detection.dataset import coerce_frames
from engine.detection.epochs import Encoded, EpochCallback, evaluate
from engine.detection.inference import predict_boundaries
from engine.detection.model import BiLSTMCRF
from engine.detection.quantization import (
    MAX_BOUNDARY_F1_DROP,
    QuantizationRefusedError,
    QuantizationReport,
    judge,
    quantize_model,
)
from engine.detection.tags import TagSet
from engine.detection.trainer import DetectorTrainer
from engine.errors import (
    ConfigError,
    DatasetError,
    InvalidInputError,
    ModelNotReadyError,
)
from engine.versioning import validate_version

log = logging.getLogger(__name__)


def resolve_device(setting: str) -> torch.device:
    """``auto`` → CUDA when torch sees a GPU, else CPU.

    Raises:
        ConfigError: ``cuda`` was asked for and torch sees no CUDA device.
    """
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "detector device is 'cuda' but torch sees no CUDA device "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
            "set device to 'auto' or 'cpu'"
        )
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class FieldDetector:
    """Byte-level BiLSTM-CRF that splits protocol messages into typed fields.

    Args:
        config: Engine configuration; ``config.detector`` sets the network shape and limits.
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.settings = self.config.detector
        self.version: str = validate_version(self.settings.version)
        self.device = resolve_device(self.settings.device)
        # Results of exactly repeated frames; emptied whenever the weights may have changed.
        self._cache = ResultCache(self.settings.cache_size, self.settings.cache_max_frame_bytes)
        self._model: BiLSTMCRF | None = None
        self._tagset: TagSet | None = None
        self._int8_model: BiLSTMCRF | None = None
        self.epoch = 0
        self.metrics: dict[str, float] = {}
        self.timestamp: str | None = None
        self.checkpoint_path: Path | None = None
        self.lineage: dict[str, Any] = {}
        self._optimizer_state: dict[str, Any] | None = None
        self._scheduler_state: dict[str, Any] | None = None
        # Made on first training or evaluation call (an inference-only worker never needs one),
        # then kept: it holds the replay buffer and shuffle RNG that carry across calls.
        self._trainer: DetectorTrainer | None = None

    # ------------------------------------------------------------------ model state
    # Every way of replacing the model, its tag set or the int8 copy goes through these
    # setters, which empty the result cache; in-place weight updates (training) are caught by
    # :func:`~engine.detection.cache.weights_token` too.

    @property
    def model(self) -> BiLSTMCRF | None:
        """The float network (trained, or loaded from a checkpoint)."""
        return self._model

    @model.setter
    def model(self, value: BiLSTMCRF | None) -> None:
        self._model = value
        self._cache.clear()

    @property
    def tagset(self) -> TagSet | None:
        """Tags of :attr:`model`."""
        return self._tagset

    @tagset.setter
    def tagset(self, value: TagSet | None) -> None:
        self._tagset = value
        self._cache.clear()

    @property
    def _inference_model(self) -> BiLSTMCRF | None:
        """Int8 copy used for inference after quantize(); checkpoints come from the float model."""
        return self._int8_model

    @_inference_model.setter
    def _inference_model(self, value: BiLSTMCRF | None) -> None:
        self._int8_model = value
        self._cache.clear()

    def cache_stats(self) -> CacheStats:
        """Result-cache counters: ``hits``, ``misses``, ``size``, ``capacity``,
        ``invalidations``."""
        return self._cache.stats()

    def clear_cache(self) -> None:
        """Drop every cached result (counters are kept)."""
        self._cache.clear()

    # ------------------------------------------------------------------ lifecycle

    async def initialize(self) -> None:
        """Prepare the detector; loads ``config.detector.model_path`` when it is set."""
        torch.manual_seed(self.settings.seed)
        if self.settings.model_path is not None:
            await self.load_checkpoint(self.settings.model_path)

    @property
    def is_ready(self) -> bool:
        """True once a model has been trained or loaded."""
        return self.model is not None and self.tagset is not None

    @property
    def field_types(self) -> list[str]:
        """Field types the model knows, in tag order."""
        return list(self.tagset.field_types) if self.tagset else []

    def _require_model(self) -> tuple[BiLSTMCRF, TagSet]:
        if self.model is None or self.tagset is None:
            raise ModelNotReadyError("no model: train the detector or load a checkpoint first")
        return self.model, self.tagset

    # ------------------------------------------------------------------ training

    def _training(self) -> DetectorTrainer:
        if self._trainer is None:
            self._trainer = DetectorTrainer(self)
        return self._trainer

    def train(
        self,
        training_data: Sequence[Any],
        validation_data: Sequence[Any],
        num_epochs: int = 50,
        learning_rate: float = 1e-3,
        batch_size: int = 16,
        early_stopping_patience: int | None = 10,
        save_best_only: bool = True,
        checkpoint_dir: str | Path | None = None,
        *,
        version: str | None = None,
        on_epoch: EpochCallback | None = None,
        data_files: Mapping[str, str | Path] | None = None,
    ) -> dict[str, Any]:
        """Train (or fine-tune) on labelled frames, validating after every epoch.

        Args:
            training_data: ``(message, [(start, end, type), ...])`` tuples, JSONL-style dicts or
                :class:`LabelledFrame` objects.
            validation_data: Held-out frames in the same form (required, never empty).
            num_epochs: Upper bound on epochs.
            learning_rate: Adam learning rate (also applied to a resumed optimizer).
            batch_size: Frames per step (batches are grouped by length).
            early_stopping_patience: Stop after this many epochs without a better validation
                F1; ``None`` disables early stopping.
            save_best_only: Write a checkpoint only when validation F1 improves (else every
                epoch).
            checkpoint_dir: Where checkpoints go; ``None`` writes none.
            version: Semantic version stamped on checkpoints (default: the detector's).
            on_epoch: Called as ``on_epoch(epoch, result, improved)`` after each epoch.
            data_files: ``{"train": path, "val": path}`` when the data came from files, so the
                checkpoints' lineage records their sha256 and row counts.

        Returns:
            History: per-epoch lists ``train_loss``, ``val_loss``, ``val_precision``,
            ``val_recall``, ``val_f1``, ``val_accuracy``, ``val_boundary_precision``,
            ``val_boundary_recall``, ``val_boundary_f1``, ``learning_rate``,
            ``epoch_time_seconds``; and ``summary`` with ``best_val_f1``, ``best_epoch``,
            ``epochs_run``, ``stopped_early``, ``total_time_seconds``, ``best_checkpoint``,
            ``checkpoints``, ``version``, ``field_types``, ``num_train``, ``num_val``.

        Raises:
            ConfigError: the settings' network shape has more parameters than a checkpoint
                may (:data:`~engine.detection.checkpoint_limits.MAX_MODEL_PARAMETERS`), so its
                checkpoints could never be loaded; refused before any training.
            DataQualityError: the data-quality check found errors (``exc.report`` lists them).
            DatasetError: a frame or span is malformed, or a dataset is empty.
        """
        self._cache.clear()
        try:
            return self._training().train(
                training_data,
                validation_data,
                num_epochs,
                learning_rate,
                batch_size,
                early_stopping_patience,
                save_best_only,
                checkpoint_dir,
                version=version,
                on_epoch=on_epoch,
                data_files=data_files,
            )
        finally:
            self._cache.clear()

    def train_batch(
        self,
        training_batches: Sequence[Sequence[Any]],
        validation_data: Sequence[Any],
        num_epochs_per_batch: int = 10,
        learning_rate: float = 1e-4,
        batch_size: int = 16,
        *,
        checkpoint_dir: str | Path | None = None,
        on_epoch: EpochCallback | None = None,
    ) -> dict[str, Any]:
        """Incremental training, one batch of new data after another.

        Each batch is trained together with a bounded replay sample of earlier batches
        (``config.detector.replay_size`` frames, reservoir-sampled), so the model keeps what it
        learned from them. New field types grow the tag set without resetting learned weights.

        Returns:
            ``batch_metrics``: one dict per batch with ``batch_idx``, ``samples``, ``replayed``,
            ``final_train_loss``, ``best_val_f1``, ``best_val_boundary_f1``, ``epochs_run``,
            ``time_seconds``; and ``summary`` with ``batches``, ``total_samples``,
            ``final_val_f1``, ``total_time_seconds``.
        """
        self._cache.clear()
        try:
            return self._training().train_batch(
                training_batches,
                validation_data,
                num_epochs_per_batch,
                learning_rate,
                batch_size,
                checkpoint_dir=checkpoint_dir,
                on_epoch=on_epoch,
            )
        finally:
            self._cache.clear()

    def evaluate(self, data: Sequence[Any], batch_size: int = 64) -> dict[str, float]:
        """Field and boundary P/R/F1, byte accuracy and loss on labelled ``data``."""
        return self._training().evaluate(data, batch_size)

    # ------------------------------------------------------------------ inference

    def _check_message(self, message: object, where: str) -> bytes:
        if not isinstance(message, bytes | bytearray | memoryview):
            raise InvalidInputError(f"{where}: expected bytes, got {type(message).__name__}")
        data = bytes(message)
        if not data:
            raise InvalidInputError(f"{where}: empty message")
        if len(data) > self.settings.max_message_bytes:
            raise InvalidInputError(
                f"{where}: {len(data)} bytes exceeds the {self.settings.max_message_bytes}-byte cap"
            )
        return data

    def detect_boundaries_batch(self, messages: Sequence[bytes]) -> list[list[FieldBoundary]]:
        """Detect fields in many messages at once (synchronous; run it off the event loop).

        Messages are grouped by length so padding stays small (a batch ends before its padding
        would pass ``max_padding_waste``, so short frames are not padded to a long one's
        length); results come back in input order, one tiling list of :class:`FieldBoundary`
        per message, the same as calling it one message at a time. Repeats of a message within
        the call are computed once, and repeats of earlier ones (up to ``cache_max_frame_bytes``
        long) come from an LRU cache of ``cache_size`` entries that empties whenever the
        weights change (:meth:`cache_stats` counts its hits and misses). Every returned list is
        the caller's own.

        Raises:
            InvalidInputError: a message is not bytes, empty, or over the size cap. The whole
                call is refused; callers that must not lose the good messages check first with
                :meth:`check_message`.
            ModelNotReadyError: no model is trained or loaded.
        """
        model, tagset = self._require_model()
        model = self._inference_model or model
        checked = [self._check_message(m, f"messages[{i}]") for i, m in enumerate(messages)]
        if not checked:
            return []
        model.eval()

        def compute(unique: list[bytes]) -> list[list[FieldBoundary]]:
            return predict_boundaries(
                model,
                tagset,
                unique,
                batch_size=self.settings.inference_batch_size,
                device=self.device,
                max_waste=self.settings.max_padding_waste,
                reading=self.settings.boundary_reading,
                fallback_below=self.settings.boundary_fallback_below,
            )

        token = weights_token(model, self._model, self._tagset)
        return self._cache.detect(checked, token, compute)

    def check_message(self, message: object) -> bytes:
        """Validate one message as :meth:`detect_boundaries_batch` would; returns its bytes."""
        return self._check_message(message, "message")

    async def detect_boundaries(self, message: bytes) -> list[FieldBoundary]:
        """Detect the fields of one message; see :meth:`detect_boundaries_batch`."""
        return self.detect_boundaries_batch([self._check_message(message, "message")])[0]

    # ------------------------------------------------------------------ checkpoints

    def _payload(
        self,
        metrics: dict[str, float],
        optimizer_state: dict[str, Any] | None,
        scheduler_state: dict[str, Any] | None,
        training: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The checkpoint of the current model with these metrics and resumable states."""
        model, tagset = self._require_model()
        return build_payload(
            model,
            tagset,
            version=self.version,
            epoch=self.epoch,
            metrics=metrics,
            optimizer_state=optimizer_state,
            scheduler_state=scheduler_state,
            training=training,
            lineage=self.lineage,
        )

    async def save_model(self, path: str | Path) -> Path:
        """Write the current model as a loadable checkpoint (with its sha256 sidecar)."""
        p = Path(path)
        save_checkpoint(
            p, self._payload(self.metrics, self._optimizer_state, self._scheduler_state, None)
        )
        return p

    async def load_checkpoint(
        self,
        checkpoint_path: str | Path,
        load_optimizer: bool = False,
        load_scheduler: bool = False,
        *,
        expected_sha256: str | None = None,
    ) -> dict[str, Any]:
        """Load a checkpoint, replacing the current model only if everything checks out.

        The file is read once; those bytes are checked against the sidecar (and
        ``expected_sha256``), then against the archive and config limits of
        :mod:`engine.detection.checkpoint_limits`, and only then loaded.

        Args:
            checkpoint_path: The checkpoint; its ``.sha256`` sidecar must sit beside it.
            load_optimizer: Keep the optimizer state, to resume training.
            load_scheduler: Keep the LR scheduler state, to resume training.
            expected_sha256: The digest the caller expects (e.g. one a control command
                names); the sidecar must record the same one.

        Returns:
            Metadata: ``epoch``, ``version``, ``metrics`` (``f1``, ``precision``, …),
            ``timestamp``, ``field_types``, ``model_config``, ``training``, ``lineage``,
            ``path``.

        Raises:
            CheckpointError: checksum mismatch, truncated file, unknown format version, a pickle
                carrying code, or weights that do not fit the stored config;
                ``UnsafeCheckpointError`` (a subclass) for compressed or oversized archives and
                out-of-bounds configs, refused before they are loaded. The detector keeps the
                model it had.
        """
        path = Path(checkpoint_path)
        with shared_lock(path.parent):  # a prune cannot delete it while we read it
            payload = load_checkpoint_payload(path, expected_sha256=expected_sha256)
        return self._adopt(payload, path, path.name, load_optimizer, load_scheduler)

    async def load_checkpoint_bytes(
        self,
        data: bytes,
        *,
        expected_sha256: str | None = None,
        path: str | Path | None = None,
        load_optimizer: bool = False,
        load_scheduler: bool = False,
    ) -> dict[str, Any]:
        """Load a checkpoint from bytes the caller already read (and perhaps hashed).

        For a caller that verified an artifact's sha256 itself: the bytes it hashed are the
        bytes loaded, never a second read of a file that may have changed. No sidecar is read;
        pass ``expected_sha256`` to have ``data`` checked against a digest.

        Args:
            data: The checkpoint file's bytes.
            expected_sha256: When given, ``data`` must hash to it.
            path: Where the bytes came from, recorded as :attr:`checkpoint_path` and in the
                metadata (not read).
            load_optimizer: Keep the optimizer state, to resume training.
            load_scheduler: Keep the LR scheduler state, to resume training.

        Returns:
            Metadata as :meth:`load_checkpoint` returns it (``path`` is ``None`` without
            ``path``).

        Raises:
            CheckpointError: as :meth:`load_checkpoint`; ``ChecksumMismatchError`` when
                ``data`` does not hash to ``expected_sha256``. The detector keeps the model it
                had.
        """
        source = Path(path) if path is not None else None
        name = source.name if source is not None else "checkpoint"
        payload = load_checkpoint_bytes(data, expected_sha256=expected_sha256, name=name)
        return self._adopt(payload, source, name, load_optimizer, load_scheduler)

    def _adopt(
        self,
        payload: dict[str, Any],
        path: Path | None,
        name: str,
        load_optimizer: bool,
        load_scheduler: bool,
    ) -> dict[str, Any]:
        """Build the model a checked payload describes and swap it in; returns the metadata."""
        model, tagset, version = restore_model(payload, name, self.device)
        # Everything validated: swap in.
        self.model, self.tagset, self.version = model, tagset, version
        self.epoch = payload["epoch"]
        self.metrics = dict(payload["metrics"])
        self.timestamp = payload["timestamp"]
        self.checkpoint_path = path
        self.lineage = dict(payload.get("lineage") or {})  # absent in older checkpoints
        self._inference_model = None
        self._optimizer_state = payload.get("optimizer_state") if load_optimizer else None
        self._scheduler_state = payload.get("scheduler_state") if load_scheduler else None
        log.info("loaded checkpoint %s (version %s, epoch %d)", name, version, self.epoch)
        return {
            "epoch": self.epoch,
            "version": version,
            "metrics": dict(self.metrics),
            "timestamp": self.timestamp,
            "field_types": list(tagset.field_types),
            "model_config": dict(payload["model_config"]),
            "training": dict(payload.get("training") or {}),
            "lineage": dict(self.lineage),
            "path": str(path) if path is not None else None,
        }

    # ------------------------------------------------------------------ quantization

    def quantize(
        self, validation_data: Sequence[Any], max_boundary_f1_drop: float = MAX_BOUNDARY_F1_DROP
    ) -> QuantizationReport:
        """Switch CPU inference to an int8 dynamic-quantized copy if it keeps its accuracy.

        The float model stays for training and checkpoints. Training or loading again drops
        the quantized copy.

        Raises:
            QuantizationRefusedError: boundary F1 on ``validation_data`` fell by more than
                ``max_boundary_f1_drop`` (``exc.report`` has the figures), or the detector runs
                on a GPU. Inference keeps the float model.
        """
        model, tagset = self._require_model()
        if self.device.type != "cpu":
            raise QuantizationRefusedError("int8 dynamic quantization is for CPU inference only")
        frames = coerce_frames(
            validation_data, max_bytes=self.settings.max_message_bytes, name="validation_data"
        )
        if not frames:
            raise DatasetError("validation_data must be non-empty")
        quantized = quantize_model(model)
        encoded = Encoded.build(frames, tagset)
        with torch.inference_mode():
            before = evaluate(model, tagset, encoded, 64, self.device)
            after = evaluate(quantized, tagset, encoded, 64, self.device)
        report = judge(before, after, max_boundary_f1_drop)
        if not report.accepted:
            raise QuantizationRefusedError(
                f"quantization refused: boundary F1 {report.float_boundary_f1:.4f} → "
                f"{report.quantized_boundary_f1:.4f} (drop {report.boundary_f1_drop:.4f} > "
                f"{max_boundary_f1_drop})",
                report,
            )
        self._inference_model = quantized
        log.info("int8 inference model in use: %s", report.as_dict())
        return report
