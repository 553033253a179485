"""Which field names a specification reads and writes once framed.

Framings add names of their own (``unit_id`` for Modbus/TCP, ``topic`` for MQTT), so the rule
generator, learner and validator ask here rather than looking at ``spec.fields`` only.
"""

from __future__ import annotations

from engine.translation.modbus import BUILTIN_FIELDS
from engine.translation.mqtt import PACKET_FIELDS
from engine.translation.spec import FieldType, Framing, ProtocolField, ProtocolSpecification

_MODBUS_REQUIRED = ("transaction_id", "unit_id", "function_code")
_MODBUS_TYPES = {
    "data": FieldType.BINARY,
    "registers": FieldType.BINARY,
    "bits": FieldType.BINARY,
    "status": FieldType.INTEGER,
}


def framing_fields(spec: ProtocolSpecification) -> dict[str, ProtocolField]:
    """Every named value a frame of ``spec`` parses to (or can be built from)."""
    out: dict[str, ProtocolField] = {}
    if spec.framing is Framing.MODBUS_TCP:
        for name in sorted(BUILTIN_FIELDS):
            ftype = _MODBUS_TYPES.get(name, FieldType.INTEGER)
            out[name] = ProtocolField(name=name, field_type=ftype, required=False)
        for name in _MODBUS_REQUIRED:
            out[name] = ProtocolField(name=name, field_type=FieldType.INTEGER, required=True)
    elif spec.framing is Framing.MQTT_PUBLISH:
        has_json = any(f.name not in PACKET_FIELDS for f in spec.fields)
        out["topic"] = ProtocolField(name="topic", field_type=FieldType.STRING, required=True)
        out["qos"] = ProtocolField(name="qos", field_type=FieldType.INTEGER, required=False)
        out["retain"] = ProtocolField(name="retain", field_type=FieldType.BOOLEAN, required=False)
        out["dup"] = ProtocolField(name="dup", field_type=FieldType.BOOLEAN, required=False)
        out["packet_id"] = ProtocolField(
            name="packet_id", field_type=FieldType.INTEGER, required=False
        )
        if not has_json:
            out["payload"] = ProtocolField(
                name="payload", field_type=FieldType.BINARY, required=True
            )
    for field in spec.fields:
        out[field.name] = field
    return out


def required_targets(spec: ProtocolSpecification) -> list[str]:
    """Fields a translation into ``spec`` must produce."""
    return [name for name, f in framing_fields(spec).items() if f.required]
