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
    "Activator": "activation",
    "ArtifactRoot": "artifact_root",
    "Candidate": "activation",
    "CommandTarget": "command",
    "ControlCommand": "command",
    "ControlConsumer": "consumer",
    "ControlEvent": "events",
    "ControlSettings": "settings",
    "HistoryEntry": "state",
    "RedisSettings": "settings",
    "VersionPointer": "state",
    "VersionStore": "state",
    "canonical_json": "command",
    "compute_signature": "command",
    "new_command": "command",
    "redact_url": "settings",
    "sign": "command",
    "verify": "command",
    "verify_sidecar": "artifact_root",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
