"""Codec for ``layout`` framing: the fields of a specification back to back, declared in construct.

Fixed-width numbers use the field's dtype and ABCD layout; a STRING/BINARY field is prefixed with a
big-endian u16 length unless it is the last field, which takes the rest of the frame. A field with
an ``offset`` past the current position is preceded by zero padding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import construct as cs

from engine.translation.errors import FieldValueError, FrameParseError, SpecError
from engine.translation.scalars import DTYPES, check_value, field_dtype, scalar_con
from engine.translation.spec import FieldType, ProtocolField, ProtocolSpecification


def to_engineering(field: ProtocolField, raw: Any) -> Any:
    """Convert a raw wire number to the field's value (scale, offset, enum name, bool)."""
    ftype = field.field_type
    if ftype is FieldType.BOOLEAN:
        if raw not in (0, 1):
            raise FrameParseError(
                f"field {field.name!r}: {raw} is not a boolean",
                field=field.name,
                reason="bad_value",
            )
        return bool(raw)
    if ftype is FieldType.ENUM:
        assert field.enum_values is not None
        for label, code in field.enum_values.items():
            if code == raw:
                return label
        raise FrameParseError(
            f"field {field.name!r}: {raw} is not a known enum value",
            field=field.name,
            reason="unknown_enum",
        )
    if field.scale == 1.0 and field.value_offset == 0.0:
        return raw
    return raw * field.scale + field.value_offset


def to_raw(field: ProtocolField, value: Any) -> Any:
    """Inverse of :func:`to_engineering` for a value already checked by ``check_value``."""
    ftype = field.field_type
    if ftype is FieldType.BOOLEAN:
        return int(value)
    if ftype is FieldType.ENUM:
        assert field.enum_values is not None
        return field.enum_values[value]
    if field.scale == 1.0 and field.value_offset == 0.0:
        return value
    raw = (value - field.value_offset) / field.scale
    return round(raw) if ftype is FieldType.INTEGER else raw


def field_con(field: ProtocolField, last: bool) -> cs.Construct:
    """The construct subcon of one field in ``layout`` framing."""
    ftype = field.field_type
    if ftype is FieldType.STRING:
        return cs.GreedyString("utf8") if last else cs.PascalString(cs.Int16ub, "utf8")
    if ftype is FieldType.BINARY:
        return cs.GreedyBytes if last else cs.Prefixed(cs.Int16ub, cs.GreedyBytes)
    return scalar_con(field_dtype(field), field.layout)


def _fixed_width(field: ProtocolField) -> int | None:
    if field.field_type in (FieldType.STRING, FieldType.BINARY):
        return None
    return DTYPES[field_dtype(field)][1]


def error_field(exc: cs.ConstructError) -> str | None:
    """Field name named in a construct error path like ``(parsing) -> header -> qos``."""
    path = getattr(exc, "path", None) or ""
    parts = [p.strip() for p in str(path).split("->")[1:]]
    return parts[-1] if parts else None


class LayoutCodec:
    """Parse/build frames whose fields follow one another (see module docstring)."""

    def __init__(self, spec: ProtocolSpecification) -> None:
        self.spec = spec
        subcons: list[cs.Construct] = []
        pos: int | None = 0
        for i, field in enumerate(spec.fields):
            if field.offset is not None:
                if pos is None or field.offset < pos:
                    raise SpecError(
                        f"field {field.name!r}: offset {field.offset} cannot follow the fields "
                        "before it (overlap or variable width)"
                    )
                if field.offset > pos:
                    subcons.append(cs.Padding(field.offset - pos))
                pos = field.offset
            subcons.append(field.name / field_con(field, last=i == len(spec.fields) - 1))
            width = _fixed_width(field)
            pos = None if pos is None or width is None else pos + width
        subcons.append(cs.Terminated)
        self._struct = cs.Struct(*subcons)

    def parse(self, data: bytes) -> dict[str, Any]:
        """Parse ``data`` into ``{field name: value}``.

        Raises:
            FrameParseError: The frame is short, long, or holds an invalid value.
        """
        try:
            parsed = self._struct.parse(data)
        except (cs.ConstructError, UnicodeDecodeError) as exc:
            field = error_field(exc) if isinstance(exc, cs.ConstructError) else None
            raise FrameParseError(
                f"{self.spec.protocol_id}: frame does not parse at field {field!r}: {exc}",
                field=field,
                reason="malformed_frame",
            ) from exc
        return {f.name: to_engineering(f, parsed[f.name]) for f in self.spec.fields}

    def build(self, values: Mapping[str, Any]) -> bytes:
        """Build a frame from ``values``; every value is checked against its field first.

        Raises:
            FieldValueError: A value is missing, of the wrong type or does not fit its field.
        """
        raw: dict[str, Any] = {}
        for field in self.spec.fields:
            value = values.get(field.name)
            if value is None and not field.required:
                value = _empty(field)
            value = check_value(field, value)
            raw[field.name] = to_raw(field, value)
        try:
            out: bytes = self._struct.build(raw)
        except cs.ConstructError as exc:
            name = error_field(exc)
            raise FieldValueError(
                f"{self.spec.protocol_id}: cannot build field {name!r}: {exc}",
                field=name,
                reason="unencodable",
            ) from exc
        return out


def _empty(field: ProtocolField) -> Any:
    """Wire default of an optional field left without a value."""
    ftype = field.field_type
    if ftype is FieldType.STRING:
        return ""
    if ftype is FieldType.BINARY:
        return b""
    if ftype is FieldType.BOOLEAN:
        return False
    if ftype is FieldType.ENUM:
        assert field.enum_values is not None
        return next(iter(field.enum_values))
    if ftype is FieldType.FLOAT:
        return 0.0
    return 0 if field.scale == 1.0 and field.value_offset == 0.0 else field.value_offset
