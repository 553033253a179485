"""Edge adapters: Modbus/TCP ingest into Kafka, the MQTT sink out of it, and pcap replay.

:mod:`.modbus_ingest` polls devices and publishes raw frames (:mod:`.raw_publisher`);
:mod:`.mqtt_sink` delivers translated results to an MQTT broker (:mod:`.mqtt_client`) at least
once; :mod:`.pcap_replay` publishes a capture's ADUs; :mod:`.default_rules` is the shipped
Modbus → MQTT rule set.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "IngestSettings": "settings",
    "ModbusIngest": "modbus_ingest",
    "MqttLink": "mqtt_client",
    "MqttSettings": "settings",
    "MqttSink": "mqtt_sink",
    "PollSpec": "modbus_ingest",
    "PublishError": "mqtt_client",
    "RawPublisher": "raw_publisher",
    "SinkSettings": "settings",
    "capture_adus": "pcap_replay",
    "frame_headers": "raw_publisher",
    "modbus_to_mqtt_rules": "default_rules",
    "parse_poll": "modbus_ingest",
    "replay": "pcap_replay",
    "save_worker_rules": "default_rules",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
