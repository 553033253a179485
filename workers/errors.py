"""Exceptions raised by the workers package.

Every error the entry points raise derives from :class:`WorkersError`, so the CLI can catch one type
and print its message without a traceback. Third-party errors are wrapped with the original kept as
``__cause__``.
"""

from __future__ import annotations


class WorkersError(Exception):
    """Root of every error raised by ``workers``."""


class DevStackError(WorkersError):
    """The embedded dev stack could not be started, stopped or inspected."""
