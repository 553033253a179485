"""Prometheus metrics of the edge adapters (Modbus ingest, MQTT sink), in one place.

Base units and ``_total`` counters as docs/architecture.md asks; labels are closed sets (outcomes,
reasons, kinds), never hosts or frame ids, so their cardinality stays fixed.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from streams.buckets import LATENCY_BUCKETS_S

MODBUS_POLLS: Final = Counter(
    "cronos_modbus_polls_total",
    "Modbus polls, by outcome (ok, exception, timeout, disconnected).",
    ["outcome"],
)
MODBUS_ERRORS: Final = Counter(
    "cronos_modbus_device_errors_total",
    "Device errors, by kind (connect, timeout, exception_response, io).",
    ["kind"],
)
MODBUS_RECONNECTS: Final = Counter(
    "cronos_modbus_reconnects_total",
    "Connection attempts to a Modbus device after the first, by outcome (ok, failed).",
    ["outcome"],
)
MODBUS_CONNECTED: Final = Gauge(
    "cronos_modbus_connected",
    "1 while the ingest holds a connection to its device.",
)
MODBUS_POLL_LATENCY: Final = Histogram(
    "cronos_modbus_poll_latency_seconds",
    "Request → response time of one Modbus poll.",
    buckets=LATENCY_BUCKETS_S,
)
FRAMES_INGESTED: Final = Counter(
    "cronos_ingest_frames_total",
    "Frames published to the raw topic, by direction (request, response).",
    ["direction"],
)
MQTT_PUBLISHES: Final = Counter(
    "cronos_mqtt_publish_total",
    "MQTT publishes, by outcome (acked, failed, dead_letter).",
    ["outcome"],
)
MQTT_PUBLISH_LATENCY: Final = Histogram(
    "cronos_mqtt_publish_latency_seconds",
    "PUBLISH → PUBACK time.",
    buckets=LATENCY_BUCKETS_S,
)
MQTT_RECONNECTS: Final = Counter(
    "cronos_mqtt_reconnects_total",
    "MQTT connection attempts after the first, by outcome (ok, failed).",
    ["outcome"],
)
MQTT_CONNECTED: Final = Gauge(
    "cronos_mqtt_connected",
    "1 while the sink holds a connection to its broker.",
)
SINK_DEAD_LETTERS: Final = Counter(
    "cronos_mqtt_dead_letters_total",
    "Translated frames the sink dead-lettered, by reason.",
    ["reason"],
)
