"""Training half of :class:`~engine.detection.field_detector.FieldDetector`.

``train``, ``train_batch`` and ``evaluate`` with their helpers (model building and tag-set
growth, optimizer and scheduler resumption, per-epoch checkpoints). Kept apart from the facade so
each module stays one concept: the facade holds state, inference and loading; this mixin holds
what changes the weights. The epoch loop itself is in :mod:`engine.detection.trainer`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from engine.core.config import DetectorSettings
from engine.detection import checkpoint_catalog as ckpt_names
from engine.detection.checkpoint import build_payload, save_checkpoint
from engine.detection.dataset import LabelledFrame, coerce_frames
from engine.detection.lineage import build_lineage, dataset_entry, parent_entry
from engine.detection.model import BiLSTMCRF
from engine.detection.quality import DataQualityError, QualityPolicy, check_dataset
from engine.detection.replay import ReplayBuffer
from engine.detection.tags import TagSet
from engine.detection.trainer import Encoded, EpochResult, evaluate, run_epochs
from engine.errors import DatasetError, ModelNotReadyError
from engine.versioning import validate_version

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, EpochResult, bool], None]


class TrainingMixin:
    """What :class:`FieldDetector` does to learn; the attributes are the detector's state."""

    settings: DetectorSettings
    version: str
    device: torch.device
    model: BiLSTMCRF | None
    tagset: TagSet | None
    epoch: int
    metrics: dict[str, float]
    checkpoint_path: Path | None
    lineage: dict[str, Any]
    _inference_model: BiLSTMCRF | None
    _optimizer_state: dict[str, Any] | None
    _scheduler_state: dict[str, Any] | None
    _replay: ReplayBuffer
    _rng: random.Random

    def _require_model(self) -> tuple[BiLSTMCRF, TagSet]:
        if self.model is None or self.tagset is None:
            raise ModelNotReadyError("no model: train the detector or load a checkpoint first")
        return self.model, self.tagset

    def _build_model(self, tagset: TagSet) -> BiLSTMCRF:
        torch.manual_seed(self.settings.seed)
        s = self.settings
        return BiLSTMCRF(len(tagset), s.embedding_dim, s.hidden_size, s.num_layers, s.dropout).to(
            self.device
        )

    def _ensure_model(self, frames: Sequence[LabelledFrame]) -> tuple[BiLSTMCRF, TagSet]:
        """Create the model, or grow its tag set to cover every type in ``frames``."""
        if self.model is None or self.tagset is None:
            self.tagset = TagSet.from_spans(f.spans for f in frames)
            self.model = self._build_model(self.tagset)
            return self.model, self.tagset
        types = {s[2] for f in frames for s in f.spans}
        if not types <= set(self.tagset.field_types):
            self.tagset = self.tagset.extended(types)
            self.model.grow_tags(len(self.tagset))
            # Optimizer moments no longer match the grown parameters.
            self._optimizer_state = None
            log.info("tag set grown to %d field types", len(self.tagset.field_types))
        return self.model, self.tagset

    def _optimizer(self, model: BiLSTMCRF, lr: float) -> torch.optim.Adam:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        if self._optimizer_state is not None:
            try:
                opt.load_state_dict(self._optimizer_state)
            except (ValueError, KeyError, RuntimeError) as exc:
                log.warning("optimizer state not resumed: %s", exc)
            for group in opt.param_groups:
                group["lr"] = lr
        return opt

    def _scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=3)
        if self._scheduler_state is not None:
            try:
                sched.load_state_dict(self._scheduler_state)
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
            DataQualityError: the data-quality check found errors (``exc.report`` lists them).
            DatasetError: a frame or span is malformed, or a dataset is empty.
        """
        if version is not None:
            self.version = validate_version(version)
        cap = self.settings.max_message_bytes
        if self.settings.quality_checks:
            policy = QualityPolicy(max_bytes=cap, strict_gaps=self.settings.strict_gaps)
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
        self._replay.extend(train)
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
        t0 = time.perf_counter()
        if num_epochs < 1 or batch_size < 1 or learning_rate <= 0:
            raise ValueError("num_epochs and batch_size must be ≥ 1 and learning_rate > 0")
        if not train or not val:
            raise DatasetError("training_data and validation_data must both be non-empty")
        parent = parent_entry(self.checkpoint_path, self.version) if self.model else None
        model, tagset = self._ensure_model(train + val)
        self._inference_model = None  # a quantized copy would be stale after training
        optimizer = self._optimizer(model, learning_rate)
        scheduler = self._scheduler(optimizer)
        out_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        saved: list[str] = []
        best_path: list[str | None] = [None]

        def after_epoch(epoch: int, result: EpochResult, improved: bool) -> None:
            self.epoch += 1
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
        self.lineage = build_lineage(
            {
                "train": dataset_entry(train, files.get("train")),
                "val": dataset_entry(val, files.get("val")),
            },
            {
                **train_info,
                "early_stopping_patience": early_stopping_patience,
                "save_best_only": save_best_only,
                "device": str(self.device),
                # The version stamped on checkpoints is self.version; the setting's may differ.
                "settings": self.settings.model_dump(mode="json", exclude={"version"}),
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
            rng=self._rng,
            device=self.device,
            on_epoch=after_epoch,
        )
        self._optimizer_state = optimizer.state_dict()
        self._scheduler_state = scheduler.state_dict()
        best = state.best_epoch - 1
        self.metrics = _checkpoint_metrics(
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
            "version": self.version,
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
        t0 = time.perf_counter()
        cap = self.settings.max_message_bytes
        val = coerce_frames(validation_data, max_bytes=cap, name="validation_data")
        batches = [
            coerce_frames(batch, max_bytes=cap, name=f"training_batches[{b}]")
            for b, batch in enumerate(training_batches)
        ]
        batch_metrics: list[dict[str, Any]] = []
        for b, frames in enumerate(batches):
            if not frames:
                raise DatasetError(f"training_batches[{b}] is empty")
            replayed = self._replay.sample()
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
            self._replay.extend(frames)
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

    def evaluate(self, data: Sequence[Any], batch_size: int = 64) -> dict[str, float]:
        """Field and boundary P/R/F1, byte accuracy and loss on labelled ``data``."""
        model, tagset = self._require_model()
        frames = coerce_frames(data, max_bytes=self.settings.max_message_bytes, name="data")
        unseen = {s[2] for f in frames for s in f.spans} - set(tagset.field_types)
        # Types the model cannot emit still count as misses, via a widened tag set.
        scoring = tagset.extended(unseen) if unseen else tagset
        if unseen:
            model = self._widened_copy(model, len(scoring))
        return evaluate(model, scoring, Encoded.build(frames, scoring), batch_size, self.device)

    def _widened_copy(self, model: BiLSTMCRF, num_tags: int) -> BiLSTMCRF:
        clone = BiLSTMCRF(**model.config).to(self.device)
        clone.load_state_dict(model.state_dict())
        clone.grow_tags(num_tags)
        return clone

    def _payload(
        self,
        metrics: dict[str, float],
        optimizer_state: dict[str, Any] | None,
        scheduler_state: dict[str, Any] | None,
        training: dict[str, Any] | None,
    ) -> dict[str, Any]:
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

    def _save(
        self,
        out_dir: Path,
        metrics: dict[str, float],
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
        training: dict[str, Any],
    ) -> Path:
        now = datetime.now(UTC)
        path = out_dir / ckpt_names.checkpoint_filename(
            self.version, self.epoch, metrics["f1"], now
        )
        payload = self._payload(metrics, optimizer.state_dict(), scheduler.state_dict(), training)
        save_checkpoint(path, payload)
        save_checkpoint(out_dir / ckpt_names.latest_filename(self.version), payload)
        log.info("checkpoint saved: %s", path)
        return path


def _checkpoint_metrics(val: dict[str, float]) -> dict[str, float]:
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
