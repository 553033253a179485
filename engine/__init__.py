"""CRONOS engine: field detection and protocol translation as a plain Python library.

Pure Python and torch: no Kafka, no Redis, no event loop of its own. Import it in a notebook.
"""

__version__ = "0.1.0"
