"""Control plane: signed commands, their activation, and the Redis version pointers.

A command is verified in :mod:`.command` (``verify``: size, signature, schema, freshness), read
from ``cronos.control`` by :mod:`.consumer`, resolved to one artifact inside the root by
:mod:`.artifact_root`, and applied by :mod:`.activation` (``Activator.handle``), which moves the
pointer with the Lua compare-and-set of :mod:`.state` and publishes an :mod:`.events` event.
Nothing here but :mod:`.consumer` and :mod:`.activation` needs Kafka: the CLI that signs a command
imports :mod:`.command` and :mod:`.settings` alone.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "activation": ("Activator", "Candidate"),
    "artifact_root": ("ArtifactRoot", "verify_sidecar"),
    "command": (
        "CommandTarget",
        "ControlCommand",
        "canonical_json",
        "compute_signature",
        "new_command",
        "sign",
        "verify",
    ),
    "consumer": ("ControlConsumer",),
    "events": ("ControlEvent",),
    "settings": ("ControlSettings", "RedisSettings", "redact_url"),
    "state": ("HistoryEntry", "VersionPointer", "VersionStore"),
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
