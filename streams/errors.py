"""Exceptions raised by the streams package.

Every error of the package derives from :class:`StreamsError`: the cross-cutting ones are
here; a leaf that belongs to one module stays beside its code (``ResultEncodeError`` in
``worker.results``, ``UntranslatableError`` in ``worker.translator``, ``PublishError`` in
``edge.mqtt_client``, ``UndeliverableError`` in ``edge.mqtt_sink``, ``DrillError`` in
``drill.runner``), deriving from it. Third-party errors (redis, Kafka) are wrapped
with the original kept as ``__cause__`` so a caller can catch one type and still see the root.
"""

from __future__ import annotations

from typing import Final

#: Machine-readable reasons a control command can be refused with. They travel on
#: ``cronos.control.events`` and label metrics, so they are part of the wire contract.
REJECTION_REASONS: Final = frozenset(
    {
        "bad_signature",
        "unsigned",
        "stale",
        "future",
        "replayed",
        "out_of_order",  # not newer than the command that set the pointer (fleet-wide order)
        "malformed",
        "oversized",
        "unknown_action",
        "unknown_component",
        "bad_version",
        "bad_pair",
        "path_outside_root",
        "artifact_missing",
        "checksum_missing",
        "checksum_mismatch",
        "redis_unavailable",
        # Raised while applying a verified command (streams.control.activation).
        "load_failed",
        "validation_failed",
        "superseded",
        "no_history",
        "no_known_good",
        "shadow_worse",  # promoted candidate did worse in shadow (monitoring.shadow)
        "internal_error",
        # Reconciling to a pointer the control key did not seal (streams.control.pointer_seal).
        "pointer_unsigned",
        "pointer_forged",
    }
)


class StreamsError(Exception):
    """Root of every error raised by ``streams``."""


class CommandRejectedError(StreamsError):
    """A control command was refused.

    Attributes:
        reason: One of :data:`REJECTION_REASONS`; stable, for events and metric labels.
        detail: Human-readable explanation; never contains key material.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REJECTION_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StateError(StreamsError):
    """The Redis state store failed (connection refused, timeout, script error)."""


class SettingsError(StreamsError):
    """A setting is missing or invalid (e.g. no HMAC key configured)."""


class KafkaSetupError(StreamsError):
    """A topic could not be created or did not appear (the Kafka error, if any, as cause)."""
