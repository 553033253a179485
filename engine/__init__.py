"""CRONOS engine: field detection and protocol translation as a plain Python library.

Pure Python and torch: no Kafka, no Redis, no event loop of its own. Import it in a notebook.
"""

__version__ = "0.1.0"

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = [
    "artifact_lock",
    "artifacts",
    "core",
    "datasets",
    "detection",
    "errors",
    "llm",
    "log_context",
    "monitoring",
    "translation",
    "versioning",
]
