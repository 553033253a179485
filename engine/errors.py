"""Exceptions raised by the engine package.

Every error the engine raises derives from :class:`EngineError`, so a caller (the stream, a CLI,
a notebook) can catch one type and still tell the reasons apart. Third-party errors are wrapped
with the original kept as ``__cause__``.
"""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error raised by ``engine``."""


class ConfigError(EngineError):
    """A setting has an invalid value."""


class InvalidInputError(EngineError, ValueError):
    """A message handed to a model is not acceptable (empty, oversized, not bytes)."""


class DatasetError(EngineError, ValueError):
    """A labelled example or dataset file is malformed."""


class ModelNotReadyError(EngineError, RuntimeError):
    """Inference was asked of a detector that has neither been trained nor loaded."""


class CheckpointError(EngineError):
    """A checkpoint could not be written, or was refused on load."""


class ChecksumMismatchError(CheckpointError):
    """An artifact's bytes do not match its sha256 sidecar (tampered or truncated)."""


class IncompatibleCheckpointError(CheckpointError):
    """A checkpoint was written in a format version this code cannot read."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint was refused before loading because loading it could exhaust memory.

    Raised for an archive that is not torch's stored zip layout or declares more than the caps
    allow, and for a ``model_config`` outside its bounds, before any tensor is allocated for it.
    ``rule`` names the broken rule (``not_zip``, ``too_large``, ``compressed_entry``,
    ``declared_size``, ``too_many_entries``, ``central_directory``, ``pickle_size``,
    ``model_config``, ``parameters``), so a caller can report it without parsing the message.
    """

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class VersionError(EngineError, ValueError):
    """A version string is not a semantic version (``MAJOR.MINOR.PATCH``)."""


class TranslationError(EngineError):
    """A frame could not be translated; ``field`` and ``reason`` say why."""

    def __init__(self, message: str, *, field: str | None = None, reason: str = "error") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class RulesError(EngineError):
    """A translation rule set is invalid, or a rules file was refused on load."""


class LLMError(EngineError):
    """The optional LLM provider failed or returned an unusable answer."""
