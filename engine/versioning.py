"""Semantic versions for models and rule sets.

Versions travel in file names, Redis pointers and control commands, so they are validated
strictly: ``MAJOR.MINOR.PATCH`` with an optional ``-prerelease`` of safe characters. Anything
with a path separator or ``..`` can never match.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from engine.errors import VersionError

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*))?$"
)


class SemVer(NamedTuple):
    """A parsed semantic version; tuples order releases after their pre-releases."""

    major: int
    minor: int
    patch: int
    prerelease: str | None = None

    def sort_key(self) -> tuple[int, int, int, int, str]:
        # A release sorts after any of its pre-releases (1.0.0-rc1 < 1.0.0).
        return (
            self.major,
            self.minor,
            self.patch,
            1 if self.prerelease is None else 0,
            self.prerelease or "",
        )

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}.{self.patch}"
        return f"{base}-{self.prerelease}" if self.prerelease else base


def parse_version(text: str) -> SemVer:
    """Parse ``text`` as a semantic version.

    Raises:
        VersionError: ``text`` is not ``MAJOR.MINOR.PATCH[-prerelease]``.
    """
    match = _SEMVER.match(text) if isinstance(text, str) else None
    if match is None:
        raise VersionError(f"not a semantic version (MAJOR.MINOR.PATCH): {text!r}")
    major, minor, patch, pre = match.groups()
    return SemVer(int(major), int(minor), int(patch), pre)


def validate_version(text: str) -> str:
    """Return ``text`` unchanged if it is a semantic version, else raise :class:`VersionError`."""
    parse_version(text)
    return text
