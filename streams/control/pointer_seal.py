"""Signed version pointers: a pointer in Redis counts only if the control key sealed it.

The pointer is the fleet's source of truth, and every worker reconciles to it. Without a seal,
anyone who can write to Redis moves every worker at its next reconcile; with one, a forged or
unsigned pointer is refused (an event with reason ``pointer_forged`` / ``pointer_unsigned``)
and the worker keeps the model it runs. The seal is an HMAC-SHA256, keyed like the control
commands, over the fields that decide what is loaded and in which order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from streams.control.command import format_utc
from streams.control.state import VersionPointer
from streams.errors import CommandRejectedError


def _message(ptr: VersionPointer) -> bytes:
    parts = (
        ptr.version,
        ptr.path,
        ptr.sha256.lower(),
        ptr.command_id,
        str(ptr.order),
        format_utc(ptr.activated_at),
    )
    # Unit separators cannot occur in any field (versions, ids, hex, paths are validated).
    return "\x1f".join(parts).encode()


def seal(ptr: VersionPointer, key: bytes) -> VersionPointer:
    """``ptr`` with its ``signature`` set."""
    digest = hmac.new(key, _message(ptr), hashlib.sha256).hexdigest()
    return dataclasses.replace(ptr, signature=digest)


def check_seal(ptr: VersionPointer, key: bytes) -> None:
    """Refuse a pointer the control key did not seal.

    Raises:
        CommandRejectedError: ``pointer_unsigned`` (no signature) or ``pointer_forged``.
    """
    if not ptr.signature:
        raise CommandRejectedError("pointer_unsigned", f"pointer to {ptr.version} has no seal")
    expected = hmac.new(key, _message(ptr), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, ptr.signature.lower()):
        raise CommandRejectedError("pointer_forged", f"pointer to {ptr.version}: bad seal")
