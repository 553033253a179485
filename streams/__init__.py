"""CRONOS stream layer: the Faust worker and what runs beside it, one subpackage per concern.

- :mod:`streams.worker`: the Faust app, frame agent, batch processing, results, publishing;
- :mod:`streams.control`: signed control commands, activation, Redis version pointers;
- :mod:`streams.monitoring`: Prometheus metrics, Redis metric windows, monitors, status page;
- :mod:`streams.edge`: Modbus ingest, MQTT sink, pcap replay;
- :mod:`streams.drill`: swap-and-rollback drills and the probe load.

Shared at the top: :mod:`streams.errors` (the root :class:`~streams.errors.StreamsError`),
:mod:`streams.kafka` (topic creation, assign-all-and-seek readers), :mod:`streams.buckets`
(histogram buckets). Depends on :mod:`engine`; never imported by it.
"""

# The package exports its modules; import the one you need (none is loaded by this file).
__all__ = [
    "buckets",
    "control",
    "drill",
    "edge",
    "errors",
    "kafka",
    "lazy_exports",
    "monitoring",
    "worker",
]
