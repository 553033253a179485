"""Engine configuration.

``Config()`` with no arguments gives working defaults, as the operations guide uses it. Every
value can be overridden by keyword or by environment variables with the ``CRONOS_`` prefix and
``__`` as the nesting separator (``CRONOS_DETECTOR__HIDDEN_SIZE=128``). Settings are frozen: a
running component never sees its configuration change underneath it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DetectorSettings(BaseModel):
    """Shape and limits of the BiLSTM-CRF field detector.

    Attributes:
        version: Semantic version stamped on checkpoints written by training.
        embedding_dim: Width of the learned byte embedding.
        hidden_size: LSTM hidden units per direction.
        num_layers: Stacked BiLSTM layers.
        dropout: Dropout between layers and before the emission layer (training only).
        max_message_bytes: Largest message accepted for inference or training (bytes).
        inference_batch_size: Largest batch run through the network at once.
        max_padding_waste: Inference batches end before padding would exceed this fraction of
            their positions, so short frames are not padded to a long one's length (1.0: only
            ``inference_batch_size`` and the token budget split a call).
        cache_size: LRU entries of results for exactly repeated frames, per loaded model (the
            cache empties whenever the weights change); 0 disables it.
        cache_max_frame_bytes: Frames longer than this are never cached.
        replay_size: Bound on examples kept from earlier batches by ``train_batch``.
        device: ``auto`` picks CUDA when torch sees it, else CPU.
        seed: Seed for weight initialisation and shuffling (reproducible training).
        boundary_head: Train new models with a boundary head beside the CRF (per-byte cut
            scores, ``engine.detection.model``); a loaded checkpoint keeps what it has.
        boundary_reading: Where a model with a boundary head takes its cuts from: ``crf``,
            ``head`` or ``auto`` (the head for messages whose mean CRF confidence is below
            ``boundary_fallback_below``); see ``engine.detection.reading``. Models without a
            head always read ``crf``.
        boundary_fallback_below: The ``auto`` reading's confidence threshold, in 0..1.
        model_path: Checkpoint loaded by ``initialize()`` when set and present.
        checkpoint_dir: Default directory for checkpoints written by training.
        quality_checks: Run the data-quality check before ``train`` and refuse on errors.
        strict_gaps: Make bytes that no span covers a quality error (else a warning: the
            detector trains them as ``O``).
    """

    model_config = ConfigDict(frozen=True)

    version: str = "1.0.0"
    embedding_dim: int = Field(default=32, ge=4, le=512)
    hidden_size: int = Field(default=48, ge=4, le=1024)
    num_layers: int = Field(default=2, ge=1, le=4)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    boundary_head: bool = False
    boundary_reading: Literal["crf", "head", "auto"] = "auto"
    boundary_fallback_below: float = Field(default=0.9, ge=0.0, le=1.0)
    max_message_bytes: int = Field(default=64 * 1024, ge=1)
    inference_batch_size: int = Field(default=256, ge=1)
    max_padding_waste: float = Field(default=0.25, ge=0.0, le=1.0)
    cache_size: int = Field(default=4096, ge=0)
    cache_max_frame_bytes: int = Field(default=512, ge=1)
    replay_size: int = Field(default=2000, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 1234
    model_path: Path | None = None
    checkpoint_dir: Path = Path("checkpoints/field_detector")
    quality_checks: bool = True
    strict_gaps: bool = False


class LLMSettings(BaseModel):
    """Optional LLM step of the Translation Studio.

    Attributes:
        provider: ``none`` (default, fully offline) or ``openai`` for any OpenAI-compatible
            chat-completions server (Ollama, vLLM, llama.cpp server).
        base_url: Server root, e.g. ``http://127.0.0.1:11434/v1``.
        model: Model name sent in the request.
        api_key: Bearer token, if the server wants one. Never logged.
        timeout_seconds: Per-request timeout.
        temperature: Sampling temperature; 0 keeps proposals reproducible.
    """

    model_config = ConfigDict(frozen=True)

    provider: Literal["none", "openai"] = "none"
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "llama3.1"
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)


class TranslationSettings(BaseModel):
    """Translation Studio defaults.

    Attributes:
        rules_dir: Default directory for saved rule sets.
        version: Version given to generated rule sets.
        min_pass_rate: Pass rate a rule set needs on validation data to be accepted.
    """

    model_config = ConfigDict(frozen=True)

    rules_dir: Path = Path("checkpoints/translation_rules")
    version: str = "1.0.0"
    min_pass_rate: float = Field(default=0.95, ge=0.0, le=1.0)


class Config(BaseSettings):
    """Root configuration object handed to every engine component."""

    model_config = SettingsConfigDict(
        env_prefix="CRONOS_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    detector: DetectorSettings = DetectorSettings()
    llm: LLMSettings = LLMSettings()
    translation: TranslationSettings = TranslationSettings()
