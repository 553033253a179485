"""Errors of the LLM layer; translation errors are re-exported for callers of the studio."""

from __future__ import annotations

from engine.errors import LLMError
from engine.translation.errors import (
    FieldValueError,
    FrameParseError,
    NoActiveRulesError,
    RuleRuntimeError,
    RulesFileError,
    RulesIntegrityError,
    RulesValidationError,
    RulesVersionError,
)

__all__ = [
    "FieldValueError",
    "FrameParseError",
    "LLMProviderError",
    "LLMResponseError",
    "NoActiveRulesError",
    "RuleRuntimeError",
    "RulesFileError",
    "RulesIntegrityError",
    "RulesValidationError",
    "RulesVersionError",
]


class LLMProviderError(LLMError):
    """The chat-completions server could not be reached or answered with an HTTP error."""


class LLMResponseError(LLMError):
    """The model's answer is not a rule set in the expected schema."""
