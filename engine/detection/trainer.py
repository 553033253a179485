"""``DetectorTrainer``: what changes a field detector's weights.

As flair's ``ModelTrainer`` takes its model, the trainer takes the detector: the
:class:`~engine.detection.field_detector.FieldDetector` is the public API and owns the state
(model, tag set, version, epoch, metrics, lineage, the optimizer and scheduler state to resume),
and the trainer reads and replaces that state through the detector object. What only training
needs lives here: the replay buffer of earlier frames and the shuffle RNG, which is why the
detector keeps one trainer for its lifetime. The loop over epochs and batches is in
:mod:`engine.detection.epochs`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from engine.detection import checkpoint_catalog as ckpt_names
from engine.detection.checkpoint import save_checkpoint
from engine.detection.checkpoint_limits import check_model_config
from engine.detection.dataset import LabelledFrame, coerce_frames
from engine.detection.epochs import Encoded, EpochCallback, EpochResult, evaluate, run_epochs
from engine.detection.lineage import build_lineage, dataset_entry, parent_entry
from engine.detection.model import BiLSTMCRF
from engine.detection.quality import DataQualityError, QualityPolicy, check_dataset
from engine.detection.replay import ReplayBuffer
from engine.detection.tags import TagSet
from engine.errors import ConfigError, DatasetError, UnsafeCheckpointError
from engine.versioning import validate_version

if TYPE_CHECKING:  # the detector imports this module; the trainer only needs its type
    from engine.detection.field_detector import FieldDetector

log = logging.getLogger(__name__)


class DetectorTrainer:
    """Trains, fine-tunes and scores one detector in place.

    :class:`~engine.detection.field_detector.FieldDetector` creates one on its first training or
    evaluation call and delegates ``train``, ``train_batch`` and ``evaluate`` to it; those methods
    document the arguments and results.

    Args:
        detector: The detector whose model is trained; its state is read and replaced on it.

    Attributes:
        detector: That detector.
        replay: Reservoir sample of the frames trained on so far, mixed into each later
            :meth:`train_batch` batch (``config.detector.replay_size`` frames).
        rng: Shuffles the training batches; seeded, so a sequence of calls is reproducible.
    """

    def __init__(self, detector: FieldDetector) -> None:
        self.detector = detector
        settings = detector.settings
        self.replay = ReplayBuffer(settings.replay_size, seed=settings.seed)
        self.rng = random.Random(settings.seed)

    # ------------------------------------------------------------------ model and optimizer

    def _build_model(self, tagset: TagSet) -> BiLSTMCRF:
        s = self.detector.settings
        _check_loadable(
            {
                "num_tags": len(tagset),
                "embedding_dim": s.embedding_dim,
                "hidden_size": s.hidden_size,
                "num_layers": s.num_layers,
                "dropout": s.dropout,
                "boundary_head": int(s.boundary_head),
            }
        )
        torch.manual_seed(s.seed)
        return BiLSTMCRF(
            len(tagset),
            s.embedding_dim,
            s.hidden_size,
            s.num_layers,
            s.dropout,
            boundary_head=int(s.boundary_head),
        ).to(self.detector.device)

    def _ensure_model(self, frames: Sequence[LabelledFrame]) -> tuple[BiLSTMCRF, TagSet]:
        """Create the model, or grow its tag set to cover every type in ``frames``."""
        d = self.detector
        if d.model is None or d.tagset is None:
            d.tagset = TagSet.from_spans(f.spans for f in frames)
            d.model = self._build_model(d.tagset)
            return d.model, d.tagset
        types = {s[2] for f in frames for s in f.spans}
        if not types <= set(d.tagset.field_types):
            grown = d.tagset.extended(types)
            _check_loadable({**d.model.config, "num_tags": len(grown)})
            d.tagset = grown
            d.model.grow_tags(len(d.tagset))
            # Optimizer moments no longer match the grown parameters.
            d._optimizer_state = None
            log.info("tag set grown to %d field types", len(d.tagset.field_types))
        return d.model, d.tagset

    def _optimizer(self, model: BiLSTMCRF, lr: float) -> torch.optim.Adam:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        state = self.detector._optimizer_state
        if state is not None:
            try:
                opt.load_state_dict(state)
            except (ValueError, KeyError, RuntimeError) as exc:
                log.warning("optimizer state not resumed: %s", exc)
            for group in opt.param_groups:
                group["lr"] = lr
        return opt

    def _scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
        state = self.detector._scheduler_state
        if state is not None:
            try:
                sched.load_state_dict(state)
            except (ValueError, KeyError) as exc:
                log.warning("scheduler state not resumed: %s", exc)
        return sched

    # ------------------------------------------------------------------ training

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
        """Check the data, train on it, then add the training frames to the replay buffer.

        Arguments, result and errors are those of
        :meth:`~engine.detection.field_detector.FieldDetector.train`.
        """
        d = self.detector
        if version is not None:
            d.version = validate_version(version)
        cap = d.settings.max_message_bytes
        if d.settings.quality_checks:
            policy = QualityPolicy(max_bytes=cap, strict_gaps=d.settings.strict_gaps)
            report = check_dataset(
                training_data, validation_data, policy, names=("training_data", "validation_data")
            )
            for issue in report.warnings:
                log.warning(
                    "data quality: %s ×%d, e.g. %s", issue.code, issue.count, issue.examples
                )
            if not report.ok:
                raise DataQualityError(report)
        train = coerce_frames(training_data, max_bytes=cap, name="training_data")
        val = coerce_frames(validation_data, max_bytes=cap, name="validation_data")
        history = self._fit(
            train,
            val,
            num_epochs,
            learning_rate,
            batch_size,
            early_stopping_patience,
            save_best_only,
            checkpoint_dir,
            on_epoch,
            data_files=data_files,
        )
        self.replay.extend(train)
        return history

    def _fit(
        self,
        train: list[LabelledFrame],
        val: list[LabelledFrame],
        num_epochs: int,
        learning_rate: float,
        batch_size: int,
        early_stopping_patience: int | None,
        save_best_only: bool,
        checkpoint_dir: str | Path | None,
        on_epoch: EpochCallback | None,
        *,
        data_files: Mapping[str, str | Path] | None = None,
    ) -> dict[str, Any]:
        d = self.detector
        t0 = time.perf_counter()
        if num_epochs < 1 or batch_size < 1 or learning_rate <= 0:
            raise ValueError("num_epochs and batch_size must be ≥ 1 and learning_rate > 0")
        if not train or not val:
            raise DatasetError("training_data and validation_data must both be non-empty")
        parent = parent_entry(d.checkpoint_path, d.version) if d.model else None
        model, tagset = self._ensure_model(train + val)
        d._inference_model = None  # a quantized copy would be stale after training
        optimizer = self._optimizer(model, learning_rate)
        scheduler = self._scheduler(optimizer)
        out_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        saved: list[str] = []
        best_path: list[str | None] = [None]

        def after_epoch(epoch: int, result: EpochResult, improved: bool) -> None:
            d.epoch += 1
            if out_dir is not None and (improved or not save_best_only):
                metrics = _checkpoint_metrics(result.val)
                path = self._save(out_dir, metrics, optimizer, scheduler, train_info)
                saved.append(str(path))
                if improved:
                    best_path[0] = str(path)
            if on_epoch is not None:
                on_epoch(epoch, result, improved)

        train_info = {
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "num_epochs": num_epochs,
            "num_train": len(train),
            "num_val": len(val),
        }
        files = data_files or {}
        d.lineage = build_lineage(
            {
                "train": dataset_entry(train, files.get("train")),
                "val": dataset_entry(val, files.get("val")),
            },
            {
                **train_info,
                "early_stopping_patience": early_stopping_patience,
                "save_best_only": save_best_only,
                "device": str(d.device),
                # The version stamped on checkpoints is the detector's; the setting's may differ.
                "settings": d.settings.model_dump(mode="json", exclude={"version"}),
            },
            parent,
        )
        state = run_epochs(
            model,
            tagset,
            Encoded.build(train, tagset),
            Encoded.build(val, tagset),
            optimizer=optimizer,
            scheduler=scheduler,
            num_epochs=num_epochs,
            batch_size=batch_size,
            early_stopping_patience=early_stopping_patience,
            rng=self.rng,
            device=d.device,
            on_epoch=after_epoch,
        )
        d._optimizer_state = optimizer.state_dict()
        d._scheduler_state = scheduler.state_dict()
        best = state.best_epoch - 1
        d.metrics = _checkpoint_metrics(
            {
                k.removeprefix("val_"): v[best]
                for k, v in state.history.items()
                if k.startswith("val_")
            }
        )
        history: dict[str, Any] = dict(state.history)
        epochs_run = len(state.history["train_loss"])
        history["summary"] = {
            "best_val_f1": state.best_f1,
            "best_epoch": state.best_epoch,
            "best_val_boundary_f1": state.history["val_boundary_f1"][best],
            "epochs_run": epochs_run,
            "stopped_early": epochs_run < num_epochs,
            "total_time_seconds": time.perf_counter() - t0,
            "best_checkpoint": best_path[0],
            "checkpoints": saved,
            "version": d.version,
            "field_types": list(tagset.field_types),
            "num_train": len(train),
            "num_val": len(val),
        }
        return history

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
        """Train on one batch after another, each mixed with a replay sample of earlier ones.

        Arguments and result are those of
        :meth:`~engine.detection.field_detector.FieldDetector.train_batch`.
        """
        t0 = time.perf_counter()
        cap = self.detector.settings.max_message_bytes
        val = coerce_frames(validation_data, max_bytes=cap, name="validation_data")
        batches = [
            coerce_frames(batch, max_bytes=cap, name=f"training_batches[{b}]")
            for b, batch in enumerate(training_batches)
        ]
        batch_metrics: list[dict[str, Any]] = []
        for b, frames in enumerate(batches):
            if not frames:
                raise DatasetError(f"training_batches[{b}] is empty")
            replayed = self.replay.sample()
            history = self._fit(
                frames + replayed,
                val,
                num_epochs_per_batch,
                learning_rate,
                batch_size,
                None,
                True,
                checkpoint_dir,
                on_epoch,
            )
            self.replay.extend(frames)
            summary = history["summary"]
            batch_metrics.append(
                {
                    "batch_idx": b,
                    "samples": len(frames),
                    "replayed": len(replayed),
                    "final_train_loss": history["train_loss"][-1],
                    "best_val_f1": summary["best_val_f1"],
                    "best_val_boundary_f1": summary["best_val_boundary_f1"],
                    "epochs_run": summary["epochs_run"],
                    "time_seconds": summary["total_time_seconds"],
                }
            )
        return {
            "batch_metrics": batch_metrics,
            "summary": {
                "batches": len(batch_metrics),
                "total_samples": sum(m["samples"] for m in batch_metrics),
                "final_val_f1": batch_metrics[-1]["best_val_f1"] if batch_metrics else 0.0,
                "total_time_seconds": time.perf_counter() - t0,
            },
        }

    # ------------------------------------------------------------------ scoring

    def evaluate(self, data: Sequence[Any], batch_size: int = 64) -> dict[str, float]:
        """Score the detector's model on labelled ``data``.

        Arguments and result are those of
        :meth:`~engine.detection.field_detector.FieldDetector.evaluate`.

        Raises:
            ModelNotReadyError: no model is trained or loaded.
        """
        d = self.detector
        model, tagset = d._require_model()
        frames = coerce_frames(data, max_bytes=d.settings.max_message_bytes, name="data")
        unseen = {s[2] for f in frames for s in f.spans} - set(tagset.field_types)
        # Types the model cannot emit still count as misses, via a widened tag set.
        scoring = tagset.extended(unseen) if unseen else tagset
        if unseen:
            model = self._widened_copy(model, len(scoring))
        return evaluate(model, scoring, Encoded.build(frames, scoring), batch_size, d.device)

    def _widened_copy(self, model: BiLSTMCRF, num_tags: int) -> BiLSTMCRF:
        clone = BiLSTMCRF(**model.config).to(self.detector.device)
        clone.load_state_dict(model.state_dict())
        clone.grow_tags(num_tags)
        return clone

    # ------------------------------------------------------------------ checkpoints

    def _save(
        self,
        out_dir: Path,
        metrics: dict[str, float],
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
        training: dict[str, Any],
    ) -> Path:
        """Write this epoch's checkpoint and overwrite the version's ``_latest`` one."""
        d = self.detector
        now = datetime.now(UTC)
        path = out_dir / ckpt_names.checkpoint_filename(d.version, d.epoch, metrics["f1"], now)
        payload = d._payload(metrics, optimizer.state_dict(), scheduler.state_dict(), training)
        save_checkpoint(path, payload)
        save_checkpoint(out_dir / ckpt_names.latest_filename(d.version), payload)
        log.info("checkpoint saved: %s", path)
        return path


def _check_loadable(config: dict[str, Any]) -> None:
    """Refuse, before any training, a network whose checkpoints the loader would refuse.

    Raises:
        ConfigError: ``config`` is outside the bounds of
            :func:`~engine.detection.checkpoint_limits.check_model_config` (the settings allow
            shapes whose parameter count is over its cap).
    """
    try:
        check_model_config(config, name="detector settings")
    except UnsafeCheckpointError as exc:
        raise ConfigError(
            f"{exc}; a model of this shape could be trained, but its checkpoints never loaded"
        ) from exc


def _checkpoint_metrics(val: dict[str, float]) -> dict[str, float]:
    """The validation scores a checkpoint records (drops anything else ``evaluate`` returns)."""
    keys = (
        "f1",
        "precision",
        "recall",
        "accuracy",
        "loss",
        "boundary_precision",
        "boundary_recall",
        "boundary_f1",
    )
    return {k: float(val[k]) for k in keys if k in val}
