"""Numeric wire types and value checks shared by codecs, rules and the learner.

A numeric wire type is a ``dtype`` (``u16``, ``i32``, ``f32`` …) plus an ABCD byte layout. The
codecs declare them as construct subcons; the compiled fast path uses the same byte permutation
with precompiled :class:`struct.Struct` formats, so both read identical values.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import construct as cs

from engine.translation.errors import FieldValueError, SpecError
from engine.translation.spec import FieldType, ProtocolField

#: dtype → (struct format char, width in bytes).
DTYPES: dict[str, tuple[str, int]] = {
    "u8": ("B", 1),
    "i8": ("b", 1),
    "u16": ("H", 2),
    "i16": ("h", 2),
    "u32": ("I", 4),
    "i32": ("i", 4),
    "f32": ("f", 4),
    "u64": ("Q", 8),
    "i64": ("q", 8),
    "f64": ("d", 8),
}
LAYOUTS = ("ABCD", "DCBA", "BADC", "CDAB")


def permutation(width: int, layout: str) -> tuple[int, ...]:
    """Wire positions of the big-endian bytes of a ``width``-byte value in ``layout``.

    ``bytes(wire[i] for i in permutation(...))`` is the value in big-endian (ABCD) order.
    """
    idx = list(range(width))
    if width == 1 or layout == "ABCD":
        return tuple(idx)
    if layout == "DCBA":
        return tuple(reversed(idx))
    words = [idx[i : i + 2] for i in range(0, width, 2)]
    if layout == "BADC":
        return tuple(b for w in words for b in reversed(w))
    if layout == "CDAB":
        return tuple(b for w in reversed(words) for b in w)
    raise SpecError(f"unknown byte layout {layout!r}")


class _Reordered(cs.Adapter):  # type: ignore[misc]
    """Bytes(width) seen as big-endian after applying a fixed byte permutation."""

    def __init__(self, width: int, layout: str) -> None:
        super().__init__(cs.Bytes(width))
        self._perm = permutation(width, layout)
        inverse = [0] * width
        for big_pos, wire_pos in enumerate(self._perm):
            inverse[wire_pos] = big_pos
        self._inverse = tuple(inverse)

    def _decode(self, obj: bytes, context: Any, path: Any) -> bytes:
        return bytes(obj[i] for i in self._perm)

    def _encode(self, obj: bytes, context: Any, path: Any) -> bytes:
        return bytes(obj[i] for i in self._inverse)


def scalar_con(dtype: str, layout: str = "ABCD") -> cs.Construct:
    """Construct subcon for one number of ``dtype`` in ``layout`` byte order."""
    fmt, width = DTYPES[dtype]
    if layout == "ABCD" or width == 1:
        return cs.FormatField(">", fmt)
    if layout == "DCBA":
        return cs.FormatField("<", fmt)
    # BADC/CDAB: permute to big-endian, then read with the big-endian format.
    packer = struct.Struct(">" + fmt)
    return cs.ExprAdapter(
        _Reordered(width, layout),
        decoder=lambda obj, ctx: packer.unpack(obj)[0],
        encoder=lambda obj, ctx: packer.pack(obj),
    )


def read_scalar(data: bytes, offset: int, dtype: str, layout: str) -> int | float:
    """Read one number at ``offset`` of ``data`` (plain struct; used by rules at run time)."""
    fmt, width = DTYPES[dtype]
    if offset < 0 or offset + width > len(data):
        raise IndexError(f"{dtype} at byte {offset} is past the end of {len(data)} bytes")
    raw = data[offset : offset + width]
    value: int | float = struct.unpack(
        ">" + fmt, bytes(raw[i] for i in permutation(width, layout))
    )[0]
    return value


def scaled(raw: int | float, scale: float, offset: float) -> int | float:
    """Apply a decode scale; identity keeps integers as integers."""
    if scale == 1.0 and offset == 0.0:
        return raw
    return raw * scale + offset


def field_dtype(field: ProtocolField) -> str:
    """The dtype of a numeric field (INTEGER/ENUM/BOOLEAN/FLOAT)."""
    if field.field_type is FieldType.FLOAT:
        return "f64" if field.length == 8 else "f32"
    if field.field_type is FieldType.BOOLEAN:
        return "u8"
    width = field.length or 4
    return ("i" if field.signed else "u") + str(width * 8)


def int_range(dtype: str) -> tuple[int, int]:
    """Inclusive range of an integer dtype."""
    bits = DTYPES[dtype][1] * 8
    if dtype.startswith("i"):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def check_value(field: ProtocolField, value: Any, *, bounded: bool = True) -> Any:
    """Return ``value`` normalised for ``field``, or raise :class:`FieldValueError`.

    Args:
        field: The field the value is meant for.
        value: Candidate value (engineering units).
        bounded: Enforce the wire width (False for self-describing encodings such as JSON).
    """
    name, ftype = field.name, field.field_type

    def fail(reason: str, detail: str) -> FieldValueError:
        return FieldValueError(f"field {name!r}: {detail}", field=name, reason=reason)

    if value is None:
        raise fail("missing", "no value")
    if ftype is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise fail("wrong_type", f"{value!r} is not a boolean")
    if ftype is FieldType.ENUM:
        assert field.enum_values is not None  # guaranteed by ProtocolField validation
        if isinstance(value, str) and value in field.enum_values:
            return value
        for label, code in field.enum_values.items():
            if not isinstance(value, bool) and value == code:
                return label
        raise fail("out_of_range", f"{value!r} is not one of {sorted(field.enum_values)}")
    if ftype is FieldType.INTEGER:
        if isinstance(value, float) and value.is_integer() and field.scale == 1.0:
            value = int(value)
        if field.scale != 1.0 or field.value_offset != 0.0:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise fail("wrong_type", f"{value!r} is not a number")
            raw = (value - field.value_offset) / field.scale
            if not math.isfinite(raw) or abs(raw - round(raw)) > 1e-6:
                raise fail("out_of_range", f"{value!r} is not a multiple of scale {field.scale}")
            raw_int = round(raw)
        elif isinstance(value, int) and not isinstance(value, bool):
            raw_int = value
        else:
            raise fail("wrong_type", f"{value!r} is not an integer")
        if bounded or field.length is not None:
            lo, hi = int_range(field_dtype(field))
            if not lo <= raw_int <= hi:
                raise fail("out_of_range", f"{value!r} does not fit {field_dtype(field)}")
        return value
    if ftype is FieldType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("wrong_type", f"{value!r} is not a number")
        value = float(value)
        if not math.isfinite(value):
            raise fail("out_of_range", f"{value!r} is not finite")
        if (field.length or 4) == 4 and abs(value) > 3.4028234663852886e38:
            raise fail("out_of_range", f"{value!r} does not fit a 32-bit float")
        return value
    if ftype is FieldType.STRING:
        if not isinstance(value, str):
            raise fail("wrong_type", f"{value!r} is not a string")
        size = len(value.encode("utf-8"))
        limit = min(field.length or 65535, 65535)
        if size > limit:
            raise fail("too_long", f"{size} bytes exceed the maximum of {limit}")
        return value
    if ftype is FieldType.BINARY:
        if not isinstance(value, bytes | bytearray):
            raise fail("wrong_type", f"{type(value).__name__} is not bytes")
        if field.length is not None and len(value) > field.length:
            raise fail("too_long", f"{len(value)} bytes exceed the maximum of {field.length}")
        return bytes(value)
    raise fail("wrong_type", f"unsupported field type {ftype}")  # pragma: no cover
