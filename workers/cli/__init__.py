"""The ``cronos`` command line: one module per command group, mounted by :mod:`.main`.

``control`` (signed swap/rollback commands), ``dataset`` and ``lifecycle`` (datasets,
checkpoints), ``detector`` (train, detect, run), ``dev`` (embedded stack), ``drill``, ``edge``
(ingest, MQTT, simulators), ``monitor_view`` (live metric windows), ``worker``.
"""

from workers.cli.main import app, main

__all__ = ["app", "main"]
