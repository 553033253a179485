"""Byte spans of a scapy packet's fields, found by rebuilding it field by field.

A message is first dissected by scapy from its final bytes (so lengths and checksums that
``post_build`` filled in are the values the walk sees), then every layer's ``fields_desc`` is
built again one field at a time and the growth of the buffer gives each field's span:

* bit-fields that share bytes (scapy passes a ``(bytes, bits, value)`` tuple between them until a
  byte boundary) become ONE span over their bytes, as the pcap policy folds tshark's bit-fields
  into their parent; the span is named by the member with most bits if it holds >= 2/3 of them
  (a 31-bit stream id behind a reserved bit, NetBIOS's 17-bit length), else it is a ``flags``
  group;
* ``PacketField`` / ``PacketLenField`` / ``PacketListField`` values are walked recursively (with
  their own payloads); a nested walk that does not rebuild the same bytes falls back to one span
  for the field;
* ``FieldListField`` elements wider than a byte (register values, neighbour addresses) get one
  span each; byte lists stay one block;
* DHCP's options (one scapy field) are split into code, length and value per option, as tshark
  shows them;
* zero-width fields (absent conditional fields, empty lists) give no span.

The walk is checked: the layers' rebuilt bytes must equal the message, else
:class:`ScapyWalkError` is raised and the caller drops the sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scapy.fields import ConditionalField, FieldListField, MultipleTypeField, _PacketField
from scapy.layers.dhcp import DHCPOptions, DHCPOptionsField
from scapy.packet import NoPayload, Packet, Raw

from engine.errors import DatasetError


class ScapyWalkError(DatasetError):
    """A packet's fields could not be rebuilt into the message's bytes."""


@dataclass(frozen=True, slots=True)
class FieldSpan:
    """One field (or merged bit-field group) in message coordinates.

    Attributes:
        start: First byte (inclusive).
        end: Last byte (exclusive).
        layer: scapy layer class name (``DNS``, ``ModbusADURequest``).
        name: Field name; for a bit-field group, the member that names it.
        field: The field object (unwrapped from conditional/multiple-type wrappers), or ``None``
            for a bit-field group typed ``flags`` and for ``Raw``/``Padding`` loads. Adjacent
            ``flags`` groups of one layer are merged (scapy splits DNS's 16 flag bits in two).
        bits: Member names of a merged bit-field group, else empty.
    """

    start: int
    end: int
    layer: str
    name: str
    field: Any
    bits: tuple[str, ...] = ()


def unwrap(fld: Any, pkt: Packet) -> Any:
    """The concrete field behind ``ConditionalField`` / ``MultipleTypeField`` wrappers."""
    while True:
        if isinstance(fld, ConditionalField):
            fld = fld.fld
        elif isinstance(fld, MultipleTypeField):
            fld = fld._find_fld_pkt(pkt)
        else:
            return fld


def _layers(pkt: Packet) -> Iterator[Packet]:
    layer: Any = pkt
    while layer is not None and not isinstance(layer, NoPayload):
        yield layer
        layer = layer.payload


def _nested(value: Any, base: int, expected: bytes) -> list[FieldSpan] | None:
    """Spans of packets held by a packet field, or ``None`` if they do not rebuild ``expected``."""
    values = value if isinstance(value, list) else [value]
    spans: list[FieldSpan] = []
    pos = base
    for v in values:
        if not isinstance(v, Packet):
            return None
        try:
            sub, built = _walk_chain(v, pos)
        except ScapyWalkError:
            return None
        spans += sub
        pos += len(built)
    if expected != b"".join(bytes(v) for v in values) or pos - base != len(expected):
        return None
    return spans


#: Byte lists that are split anyway: Modbus coil/input status bytes, one span per byte as tshark
#: labels them (``modbus.bitnum``, see the Modbus policy in docs/datasets.md).
PER_BYTE_LISTS = frozenset({"coilStatus", "inputStatus"})


def _wide(fld: Any) -> bool:
    """A list of multi-byte items (registers, addresses); byte lists stay one data block."""
    return int(getattr(fld.field, "sz", 1)) > 1 or fld.name in PER_BYTE_LISTS


def _list_items(
    layer: Packet, fld: Any, values: list[Any], base: int, expected: bytes
) -> list[FieldSpan] | None:
    """One span per element of a ``FieldListField`` (tshark shows list items one by one)."""
    out: list[FieldSpan] = []
    pos = 0
    for v in values:
        raw = fld.field.addfield(layer, b"", v)
        if not isinstance(raw, bytes) or not raw:
            return None
        out.append(
            FieldSpan(base + pos, base + pos + len(raw), type(layer).__name__, fld.name, fld)
        )
        pos += len(raw)
    return out if pos == len(expected) else None


def _dhcp_options(data: bytes, base: int, layer: str, fld: Any) -> list[FieldSpan]:
    """DHCP options as tshark shows them: code, length and value of each option, one byte for
    pad (0) and end (255). The value is named after scapy's option name (``lease_time``)."""
    out: list[FieldSpan] = []
    i = 0
    while i < len(data):
        code = data[i]
        if code in (0, 255) or i + 1 >= len(data):
            out.append(FieldSpan(base + i, base + i + 1, layer, "option_type", fld))
            i += 1
            continue
        size = data[i + 1]
        spec = DHCPOptions.get(code, "value")
        opt = spec if isinstance(spec, str) else getattr(spec, "name", "value")
        out.append(FieldSpan(base + i, base + i + 1, layer, "option_type", fld))
        out.append(FieldSpan(base + i + 1, base + i + 2, layer, "option_len", fld))
        end = min(i + 2 + size, len(data))
        if end > i + 2:
            out.append(FieldSpan(base + i + 2, base + end, layer, opt.replace("-", "_"), fld))
        i = end
    return out


def _group_span(members: list[tuple[str, int, Any]], start: int, end: int, layer: str) -> FieldSpan:
    names = tuple(m[0] for m in members)
    if len(members) == 1:
        return FieldSpan(start, end, layer, names[0], members[0][2], names)
    widest = max(members, key=lambda m: m[1])
    if widest[1] * 3 >= 2 * sum(m[1] for m in members):
        return FieldSpan(start, end, layer, widest[0], widest[2], names)
    return FieldSpan(start, end, layer, "+".join(names), None, names)


def _walk_layer(layer: Packet, base: int) -> tuple[list[FieldSpan], bytes]:
    name = type(layer).__name__
    if isinstance(layer, Raw):
        load = bytes(layer.load)
        return ([FieldSpan(base, base + len(load), name, "load", None)] if load else []), load
    spans: list[FieldSpan] = []
    buf: Any = b""
    group: list[tuple[str, int, Any]] = []
    group_start = 0
    for f in layer.fields_desc:
        val = layer.getfieldval(f.name)
        in_group = not isinstance(buf, bytes)
        before = len(buf) if isinstance(buf, bytes) else 0
        buf = f.addfield(layer, buf, val)
        concrete = unwrap(f, layer)
        if in_group or isinstance(buf, tuple):
            if not in_group:
                group, group_start = [], before
            group.append((f.name, int(getattr(concrete, "size", 0)), concrete))
            if isinstance(buf, bytes):
                spans.append(_group_span(group, base + group_start, base + len(buf), name))
            continue
        if len(buf) == before:
            continue
        start, end = base + before, base + len(buf)
        if isinstance(concrete, _PacketField):
            sub = _nested(val, start, buf[before:])
            if sub is not None:
                spans += sub
                continue
        if isinstance(concrete, FieldListField) and isinstance(val, list) and _wide(concrete):
            sub = _list_items(layer, concrete, val, start, buf[before:])
            if sub is not None:
                spans += sub
                continue
        if isinstance(concrete, DHCPOptionsField):
            spans += _dhcp_options(buf[before:], start, name, concrete)
            continue
        spans.append(FieldSpan(start, end, name, f.name, concrete))
    if not isinstance(buf, bytes):
        raise ScapyWalkError(f"{name}: bit-fields end inside a byte")
    return _merge_flag_groups(spans), buf


def _merge_flag_groups(spans: list[FieldSpan]) -> list[FieldSpan]:
    """Adjacent ``flags`` groups are one flags word (scapy splits DNS's 16 flag bits in two)."""
    out: list[FieldSpan] = []
    for s in spans:
        prev = out[-1] if out else None
        groups = prev and prev.field is None and s.field is None and prev.bits and s.bits
        if prev and groups and prev.end == s.start:
            out[-1] = FieldSpan(
                prev.start, s.end, s.layer, f"{prev.name}+{s.name}", None, prev.bits + s.bits
            )
            continue
        out.append(s)
    return out


def _walk_chain(pkt: Packet, base: int) -> tuple[list[FieldSpan], bytes]:
    spans: list[FieldSpan] = []
    built = b""
    for layer in _layers(pkt):
        sub, raw = _walk_layer(layer, base + len(built))
        spans += sub
        built += raw
    return spans, built


def field_spans(message: bytes, cls: type[Packet]) -> list[FieldSpan]:
    """The span of every field of ``message`` dissected as ``cls``, in message order.

    Args:
        message: The application message's final bytes (lengths and checksums filled in).
        cls: The scapy class of its first layer.

    Raises:
        ScapyWalkError: scapy does not rebuild the message from its dissected fields.
    """
    try:
        dissected = cls(message)
        spans, built = _walk_chain(dissected, 0)
    except ScapyWalkError:
        raise
    except Exception as exc:  # scapy raises bare exceptions from any field's code
        raise ScapyWalkError(f"{cls.__name__}: {exc!r}") from exc
    if built != message:
        raise ScapyWalkError(
            f"{cls.__name__}: fields rebuild {len(built)} bytes, message has {len(message)}"
        )
    return spans
