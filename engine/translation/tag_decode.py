"""Reading tags from a register block, and writing them into one (the inverse, for examples).

A block is the register data of one read response: big-endian 16-bit registers as bytes, the
first of them at ``start``. A tag is read when all its registers lie inside the block; numbers
use the same byte permutation as every other numeric wire type
(:func:`engine.translation.scalars.read_scalar`). A 32-bit float that is NaN or infinite is
``None`` (JSON ``null``): devices send NaN for "no reading", and JSON has no NaN. An integer
register with a decimal scale is rounded to the scale's and offset's decimals (``1011`` × 0.1 is
``101.1``, not ``101.10000000000001``).
"""

from __future__ import annotations

import decimal
import math
import struct
from collections.abc import Mapping
from typing import Any

from engine.translation.errors import FieldValueError
from engine.translation.scalars import DTYPES, int_range, permutation, read_scalar, scaled
from engine.translation.tags import Tag, TagMap


def in_block(tag: Tag, function_code: int, start: int, count: int) -> bool:
    """Whether every register of ``tag`` lies in the block ``[start, start + count)``."""
    return (
        tag.function_code == function_code
        and start <= tag.address
        and tag.address + tag.registers <= start + count
    )


def _word(tag: Tag, raw: bytes) -> int:
    # A one-register value: only the byte order applies (BADC/DCBA swap the two bytes).
    return int(read_scalar(raw, 0, "u16", tag.layout))


def decode_tag(tag: Tag, data: bytes, start: int) -> Any:
    """The value of ``tag`` in block ``data`` that starts at register ``start``.

    Raises:
        IndexError: The tag's registers are not all in the block.
    """
    pos = (tag.address - start) * 2
    raw = data[pos : pos + 2 * tag.registers] if pos >= 0 else b""
    if len(raw) != 2 * tag.registers:
        raise IndexError(f"tag {tag.name!r} (register {tag.address}) is outside the block")
    if tag.type == "bool":
        word = _word(tag, raw)
        return word != 0 if tag.bit is None else bool((word >> tag.bit) & 1)
    if tag.type == "bits":
        word = _word(tag, raw)
        if tag.bit_names is not None:
            return {name: bool((word >> bit) & 1) for name, bit in tag.bit_names.items()}
        return [bool((word >> bit) & 1) for bit in range(16)]
    value = read_scalar(raw, 0, tag.type, tag.layout)
    if isinstance(value, float):
        return scaled(value, tag.scale, tag.offset) if math.isfinite(value) else None
    out = scaled(value, tag.scale, tag.offset)
    # An integer register times a decimal scale: 1011 * 0.1 is 101.10000000000001 in binary
    # floating point; the scale's own decimals are all the precision there is.
    return round(out, _decimals(tag.scale, tag.offset)) if isinstance(out, float) else out


def _decimals(*numbers: float) -> int:
    """Decimal places of the shortest repr of each number (at most 12), the largest."""
    places = 0
    for number in numbers:
        exponent = decimal.Decimal(repr(float(number))).as_tuple().exponent
        if isinstance(exponent, int) and exponent < 0:
            places = max(places, -exponent)
    return min(places, 12)


def decode_block(tag_map: TagMap, function_code: int, start: int, data: bytes) -> dict[str, Any]:
    """``{tag name: value}`` of every tag of ``tag_map`` that lies wholly in the block."""
    count = len(data) // 2
    return {
        tag.name: decode_tag(tag, data, start)
        for tag in tag_map.tags
        if in_block(tag, function_code, start, count)
    }


def encode_tag(tag: Tag, value: Any) -> bytes:
    """The register bytes (big-endian words) that :func:`decode_tag` reads back as ``value``.

    ``bool``/``bits`` tags set only the bits they name; the other bits are 0.

    Raises:
        FieldValueError: ``value`` does not fit the tag's type after scale and offset.
    """

    def fail(detail: str) -> FieldValueError:
        return FieldValueError(f"tag {tag.name!r}: {detail}", field=tag.name, reason="out_of_range")

    if tag.type in ("bool", "bits"):
        if tag.type == "bool":
            bits = {tag.bit if tag.bit is not None else 0: bool(value)}
        elif isinstance(value, Mapping):
            names = tag.bit_names or {}
            bits = {names[k]: bool(v) for k, v in value.items()}
        else:
            bits = dict(enumerate(bool(v) for v in value))
        word = sum(1 << bit for bit, on in bits.items() if on)
        dtype, raw_value = "u16", word
    else:
        raw = (value - tag.offset) / tag.scale
        dtype = tag.type
        if dtype == "f32":
            raw_value = raw
        else:
            raw_value = round(raw)
            if abs(raw - raw_value) > 1e-6:
                raise fail(f"{value!r} is not a multiple of scale {tag.scale}")
            lo, hi = int_range(dtype)
            if not lo <= raw_value <= hi:
                raise fail(f"{value!r} does not fit {dtype}")
    packed = struct.pack(">" + DTYPES[dtype][0], raw_value)
    perm = permutation(len(packed), tag.layout)
    wire = bytearray(len(packed))
    for big_pos, wire_pos in enumerate(perm):
        wire[wire_pos] = packed[big_pos]
    return bytes(wire)


def encode_block(
    tag_map: TagMap, function_code: int, start: int, count: int, values: Mapping[str, Any]
) -> bytes:
    """A block of ``count`` registers holding ``values`` (registers no tag names are 0)."""
    data = bytearray(2 * count)
    for tag in tag_map.tags:
        if tag.name in values and in_block(tag, function_code, start, count):
            pos = (tag.address - start) * 2
            data[pos : pos + 2 * tag.registers] = encode_tag(tag, values[tag.name])
    return bytes(data)
