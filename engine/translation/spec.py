"""Protocol specifications: the fields a protocol message carries and how they are laid out.

A :class:`ProtocolSpecification` is plain data (pydantic, JSON-serialisable) so it can travel inside
a rules file. :mod:`engine.translation.codecs` turns one into a codec.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ProtocolType(StrEnum):
    """Protocol families the studio knows by name."""

    MODBUS = "modbus"
    MQTT = "mqtt"
    DNP3 = "dnp3"
    BACNET = "bacnet"
    HTTP_JSON = "http_json"
    CUSTOM = "custom"


class FieldType(StrEnum):
    """Value type of a field, independent of its wire encoding."""

    INTEGER = "integer"
    FLOAT = "float"
    STRING = "string"
    BINARY = "binary"
    BOOLEAN = "boolean"
    ENUM = "enum"


class Framing(StrEnum):
    """How a message is framed on the wire.

    ``layout``: the fields in declaration order (fixed widths; a non-final STRING/BINARY field is
    prefixed with its length as a big-endian u16, the last one takes the rest of the frame).
    ``modbus_tcp``: a Modbus/TCP ADU (MBAP header + PDU, decoded by pymodbus).
    ``mqtt_publish``: an MQTT 3.1.1 PUBLISH packet.
    """

    LAYOUT = "layout"
    MODBUS_TCP = "modbus_tcp"
    MQTT_PUBLISH = "mqtt_publish"


#: Byte layout of a multi-byte value: ABCD is big-endian, DCBA little-endian, BADC big-endian
#: words with swapped bytes, CDAB little-endian word order with big-endian words (the usual
#: "word swapped" float of Modbus devices).
ByteLayout = Literal["ABCD", "DCBA", "BADC", "CDAB"]


class ProtocolField(BaseModel):
    """One field of a protocol message.

    Attributes:
        name: Field name, unique within its specification.
        field_type: Value type.
        length: Width in bytes (INTEGER 1/2/4/8, FLOAT 4/8); maximum length for STRING/BINARY.
        offset: Byte offset; for ``modbus_tcp`` relative to the register data, else to the frame.
        required: Whether a translation must produce a value for it.
        description: Free text; the rule generator matches on it.
        byte_order: Byte order within a 16-bit word (``big`` = A before B).
        word_order: Order of 16-bit words in a value wider than two bytes.
        signed: Two's-complement integer.
        scale: Engineering value = raw * scale + value_offset.
        value_offset: See ``scale``.
        unit: Engineering unit, informational (``degC``, ``kPa``).
        enum_values: Name → wire integer for ENUM fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    field_type: FieldType
    length: int | None = Field(default=None, ge=1, le=65535)
    offset: int | None = Field(default=None, ge=0)
    required: bool = True
    description: str = ""
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    signed: bool = False
    scale: float = 1.0
    value_offset: float = 0.0
    unit: str | None = None
    enum_values: dict[str, int] | None = None

    @property
    def layout(self) -> ByteLayout:
        """The ABCD-style code of this field's byte and word order."""
        return to_layout(self.byte_order, self.word_order)

    @model_validator(mode="after")
    def _check(self) -> ProtocolField:
        if self.field_type is FieldType.ENUM and not self.enum_values:
            raise ValueError(f"ENUM field {self.name!r} needs enum_values")
        if self.field_type is FieldType.FLOAT and self.length not in (None, 4, 8):
            raise ValueError(f"FLOAT field {self.name!r} must be 4 or 8 bytes")
        if self.field_type in (FieldType.INTEGER, FieldType.ENUM) and self.length not in (
            None,
            1,
            2,
            4,
            8,
        ):
            raise ValueError(f"integer field {self.name!r} must be 1, 2, 4 or 8 bytes")
        if self.scale == 0:
            raise ValueError(f"field {self.name!r}: scale must not be 0")
        return self


class ProtocolSpecification(BaseModel):
    """A protocol message format.

    Attributes:
        protocol_id: Short id used to pick rules (``modbus``, ``mqtt``).
        protocol_type: Protocol family.
        version: Version of the protocol (free text, e.g. ``3.1.1``).
        name: Human name.
        description: Free text.
        fields: Fields in wire order (``layout``) or the fields exposed by the framing.
        framing: Wire framing; see :class:`Framing`.
        direction: Whether frames are requests or responses (Modbus function codes decode
            differently in each direction).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    protocol_type: ProtocolType
    version: str = "1.0"
    name: str = ""
    description: str = ""
    fields: list[ProtocolField]
    framing: Framing = Framing.LAYOUT
    direction: Literal["request", "response"] = "response"

    @model_validator(mode="after")
    def _unique_names(self) -> ProtocolSpecification:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate field names in spec {self.protocol_id!r}")
        return self

    def field(self, name: str) -> ProtocolField | None:
        """Return the field called ``name``, or ``None``."""
        for f in self.fields:
            if f.name == name:
                return f
        return None


_LAYOUTS: dict[tuple[str, str], ByteLayout] = {
    ("big", "big"): "ABCD",
    ("little", "little"): "DCBA",
    ("little", "big"): "BADC",
    ("big", "little"): "CDAB",
}


def to_layout(byte_order: str, word_order: str) -> ByteLayout:
    """Map (byte order, word order) to the ABCD code."""
    return _LAYOUTS[(byte_order, word_order)]
