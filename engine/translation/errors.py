"""Errors raised by the translation package.

Run-time failures are :class:`~engine.errors.TranslationError` leaves that carry ``field`` (the
field involved, ``None`` when the whole frame is at fault) and ``reason`` (a short machine-readable
word such as ``malformed_frame`` or ``out_of_range``). Rule-set and file problems are
:class:`~engine.errors.RulesError` leaves.
"""

from __future__ import annotations

from engine.errors import RulesError, TranslationError, VersionError


class SpecError(RulesError, ValueError):
    """A protocol specification cannot yield a codec (bad layout, unsupported type/length)."""


class FrameParseError(TranslationError):
    """A frame does not parse under the source specification."""


class FieldValueError(TranslationError):
    """A value does not fit the field it is meant for (type, range, length)."""


class RuleRuntimeError(TranslationError):
    """A rule failed while it ran (missing source value, unmapped enum value, bad data)."""


class NoActiveRulesError(TranslationError):
    """No rule set is active for the requested protocol pair."""


class RulesValidationError(RulesError, ValueError):
    """A rule set does not fit its specifications, or fails its own test cases."""


class RulesFileError(RulesError):
    """A rules file is missing, corrupt, tampered with or not of the expected schema."""


class RulesVersionError(RulesError, VersionError):
    """A rules version is not ``MAJOR.MINOR.PATCH`` (path characters included)."""


class RulesIntegrityError(RulesFileError):
    """A rules file does not match its sha256 sidecar (tampered or truncated)."""
