"""MQTT 3.1.1 PUBLISH packet codec, declared in construct.

Packet fields: ``topic``, ``qos``, ``retain``, ``dup``, ``packet_id`` (present only when qos > 0)
and the payload. If the specification declares fields other than those, the payload is a JSON
object of them (orjson, keys in declaration order); otherwise it is the raw ``payload`` bytes.
Only canonical packets are accepted (minimal remaining-length encoding, no trailing bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import construct as cs
import orjson

from engine.translation.errors import FieldValueError, FrameParseError
from engine.translation.layout import error_field
from engine.translation.scalars import check_value
from engine.translation.spec import FieldType, ProtocolField, ProtocolSpecification

PUBLISH_TYPE = 3
#: Remaining length is at most 4 variable-length bytes (MQTT 3.1.1, 2.2.3).
MAX_REMAINING = 268_435_455
PACKET_FIELDS = frozenset({"topic", "qos", "retain", "dup", "packet_id", "payload"})

PUBLISH = cs.Struct(
    "header"
    / cs.BitStruct(
        "packet_type" / cs.Const(PUBLISH_TYPE, cs.BitsInteger(4)),
        "dup" / cs.Flag,
        "qos" / cs.BitsInteger(2),
        "retain" / cs.Flag,
    ),
    "body"
    / cs.Prefixed(
        cs.VarInt,
        cs.Struct(
            "topic" / cs.PascalString(cs.Int16ub, "utf8"),
            "packet_id" / cs.If(cs.this._.header.qos > 0, cs.Int16ub),
            "payload" / cs.GreedyBytes,
        ),
    ),
    cs.Terminated,
)


def encode_remaining_length(length: int) -> bytes:
    """MQTT variable-length integer (7 bits per byte, least significant group first)."""
    out: bytes = cs.VarInt.build(length)
    return out


def split_packets(data: bytes) -> list[bytes]:
    """Cut a byte stream of MQTT packets (a tag-mapped translation) into single packets.

    Each packet is a fixed-header byte, its remaining length (1..4 varint bytes) and that many
    bytes; whether each one is a canonical PUBLISH is left to :meth:`MqttPublishCodec.parse`.

    Raises:
        FrameParseError: Empty input, a bad remaining length, or a packet cut short.
    """
    out: list[bytes] = []
    pos, size = 0, len(data)
    while pos < size or not out:
        length = shift = 0
        i = pos + 1
        while True:
            if i >= size or i - pos > 4:
                raise FrameParseError(
                    f"mqtt: bad or cut remaining length at byte {pos}",
                    field="remaining_length",
                    reason="malformed_frame",
                )
            byte = data[i]
            length |= (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                break
        if i + length > size:
            raise FrameParseError(
                f"mqtt: packet at byte {pos} is cut short",
                field="payload",
                reason="malformed_frame",
            )
        out.append(data[pos : i + length])
        pos = i + length
    return out


class MqttPublishCodec:
    """Parse/build MQTT 3.1.1 PUBLISH packets (see module docstring)."""

    def __init__(self, spec: ProtocolSpecification) -> None:
        self.spec = spec
        self.json_fields: list[ProtocolField] = [
            f for f in spec.fields if f.name not in PACKET_FIELDS
        ]
        self._topic = spec.field("topic") or ProtocolField(
            name="topic", field_type=FieldType.STRING
        )

    def parse(self, data: bytes) -> dict[str, Any]:
        """Decode one PUBLISH packet.

        Raises:
            FrameParseError: Not a canonical PUBLISH packet, or a JSON payload that does not
                match the declared fields.
        """
        try:
            packet = PUBLISH.parse(data)
        except (cs.ConstructError, UnicodeDecodeError) as exc:
            field = error_field(exc) if isinstance(exc, cs.ConstructError) else "topic"
            raise FrameParseError(
                f"mqtt: not a PUBLISH packet (at {field!r}): {exc}",
                field=field,
                reason="malformed_frame",
            ) from exc
        header, body = packet.header, packet.body
        if header.qos == 3:
            raise FrameParseError("mqtt: QoS 3 is reserved", field="qos", reason="malformed_frame")
        values: dict[str, Any] = {
            "topic": body.topic,
            "qos": header.qos,
            "retain": header.retain,
            "dup": header.dup,
            "packet_id": body.packet_id,
        }
        if self.json_fields:
            values.update(self._parse_json(body.payload))
        else:
            values["payload"] = body.payload
        if self.build(values) != data:
            raise FrameParseError(
                "mqtt: packet is not canonical (remaining length or JSON encoding)",
                field=None,
                reason="malformed_frame",
            )
        return values

    def payload_of(self, values: Mapping[str, Any]) -> bytes:
        """The payload bytes for ``values`` (JSON of the declared fields, or raw ``payload``)."""
        if not self.json_fields:
            return check_value(_PAYLOAD, values.get("payload", b""))  # type: ignore[no-any-return]
        doc = {}
        for field in self.json_fields:
            value = values.get(field.name)
            if value is None and not field.required:
                continue
            doc[field.name] = check_value(field, value, bounded=field.length is not None)
        return orjson.dumps(doc)

    def build(self, values: Mapping[str, Any]) -> bytes:
        """Encode one PUBLISH packet.

        Raises:
            FieldValueError: Bad topic (empty, wildcard, too long), QoS, packet id or payload.
        """
        topic = check_value(self._topic, values.get("topic"))
        if not topic or "+" in topic or "#" in topic or "\x00" in topic:
            raise FieldValueError(
                f"mqtt: topic {topic!r} is empty or holds a wildcard/NUL",
                field="topic",
                reason="bad_topic",
            )
        qos = values.get("qos") or 0
        if qos not in (0, 1, 2):
            raise FieldValueError(f"mqtt: QoS {qos!r}", field="qos", reason="out_of_range")
        packet_id = values.get("packet_id")
        if qos and not (isinstance(packet_id, int) and 0 < packet_id <= 0xFFFF):
            raise FieldValueError(
                f"mqtt: QoS {qos} needs a packet id in 1..65535, got {packet_id!r}",
                field="packet_id",
                reason="out_of_range",
            )
        payload = self.payload_of(values)
        topic_len = len(topic.encode("utf-8"))
        if 2 + topic_len + (2 if qos else 0) + len(payload) > MAX_REMAINING:
            raise FieldValueError("mqtt: packet too large", field="payload", reason="too_long")
        out: bytes = PUBLISH.build(
            {
                "header": {
                    "dup": bool(values.get("dup")),
                    "qos": qos,
                    "retain": bool(values.get("retain")),
                },
                "body": {
                    "topic": topic,
                    "packet_id": packet_id if qos else None,
                    "payload": payload,
                },
            }
        )
        return out

    def _parse_json(self, payload: bytes) -> dict[str, Any]:
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise FrameParseError(
                f"mqtt: payload is not JSON: {exc}", field="payload", reason="malformed_frame"
            ) from exc
        if not isinstance(doc, dict):
            raise FrameParseError(
                "mqtt: JSON payload is not an object", field="payload", reason="malformed_frame"
            )
        known = {f.name for f in self.json_fields}
        extra = sorted(set(doc) - known)
        if extra:
            raise FrameParseError(
                f"mqtt: unexpected payload keys {extra}", field=extra[0], reason="malformed_frame"
            )
        out: dict[str, Any] = {}
        for field in self.json_fields:
            if field.name not in doc:
                if field.required:
                    raise FrameParseError(
                        f"mqtt: payload lacks {field.name!r}", field=field.name, reason="missing"
                    )
                continue
            try:
                out[field.name] = check_value(field, doc[field.name], bounded=False)
            except FieldValueError as exc:
                raise FrameParseError(str(exc), field=field.name, reason=exc.reason) from exc
        return out


_PAYLOAD = ProtocolField(name="payload", field_type=FieldType.BINARY)
