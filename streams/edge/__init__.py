"""Edge adapters: Modbus/TCP ingest into Kafka, the MQTT sink out of it, and pcap replay.

:mod:`.modbus_ingest` polls devices and publishes raw frames (:mod:`.raw_publisher`);
:mod:`.mqtt_sink` delivers translated results to an MQTT broker (:mod:`.mqtt_client`) at least
once; :mod:`.pcap_replay` publishes a capture's ADUs; :mod:`.default_rules` is the shipped
Modbus → MQTT rule set.
"""

from streams.lazy_exports import lazy_exports

_EXPORTS = {
    "default_rules": ("modbus_to_mqtt_rules", "save_worker_rules"),
    "modbus_ingest": ("ModbusIngest", "PollSpec", "parse_poll"),
    "mqtt_client": ("MqttLink", "PublishError"),
    "mqtt_sink": ("MqttSink",),
    "pcap_replay": ("capture_adus", "replay"),
    "raw_publisher": ("RawPublisher", "frame_headers"),
    "settings": ("IngestSettings", "MqttSettings", "SinkSettings"),
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
