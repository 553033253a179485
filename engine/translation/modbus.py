"""Modbus/TCP codec: pymodbus frames and decodes every public function code.

Parsed values are the MBAP header (``transaction_id``, ``unit_id``), the raw ``function_code`` byte
(0x80 set for exception responses), the public attributes of the decoded pymodbus PDU
(``address``, ``count``, ``registers``, ``bits``, ``exception_code`` …) and ``data``: the register
block as big-endian bytes. Fields of the specification that are not among those names are typed
values read from ``data`` at their ``offset`` (register maps: a FLOAT at byte 0 in CDAB …).

Only canonical frames are accepted (re-encoding must give the same bytes), so
``build(parse(b)) == b`` holds for every accepted frame; anything else is a
:class:`FrameParseError`, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU

from engine.translation.errors import FieldValueError, FrameParseError, SpecError
from engine.translation.layout import to_engineering, to_raw
from engine.translation.scalars import DTYPES, check_value, field_dtype, read_scalar, scalar_con
from engine.translation.spec import FieldType, ProtocolField, ProtocolSpecification

#: Attributes of a pymodbus PDU that are bookkeeping, not message content.
_PRIVATE = frozenset({"dev_id", "transaction_id", "retries", "fut", "function_code"})
#: Names the codec produces itself; spec fields with other names are typed register values.
BUILTIN_FIELDS = frozenset(
    {
        "transaction_id",
        "unit_id",
        "function_code",
        "exception_code",
        "sub_function_code",
        "address",
        "count",
        "registers",
        "bits",
        "status",
        "data",
        "byte_count",
        "message",
        "identifier",
        "records",
        "values",
        "and_mask",
        "or_mask",
        "event_count",
        "events",
        "message_count",
        "read_address",
        "read_count",
        "write_address",
        "write_byte_count",
        "write_count",
        "write_registers",
        "data_byte_count",
    }
)
MBAP_BYTES = 7


class ModbusTcpCodec:
    """Parse/build Modbus/TCP ADUs in one direction (requests or responses)."""

    def __init__(self, spec: ProtocolSpecification) -> None:
        self.spec = spec
        # pymodbus: a server decodes requests, a client decodes responses.
        self._decoder = DecodePDU(is_server=spec.direction == "request")
        self._framer = FramerSocket(self._decoder)
        self._side = 0 if spec.direction == "request" else 1
        self.typed_fields: list[ProtocolField] = [
            f for f in spec.fields if f.name not in BUILTIN_FIELDS
        ]
        for field in self.typed_fields:
            if field.offset is None or field.field_type in (FieldType.STRING, FieldType.BINARY):
                raise SpecError(
                    f"Modbus register field {field.name!r} needs a numeric type and an offset"
                )
            scalar_con(field_dtype(field), field.layout)  # fail early on a bad layout

    def parse(self, data: bytes) -> dict[str, Any]:
        """Decode one ADU.

        Raises:
            FrameParseError: Short, long, non-canonical or undecodable frame.
        """
        frame_len, unit_id, tid, pdu_bytes = self._framer.decode(data)
        if not frame_len or not pdu_bytes:
            raise FrameParseError(
                "modbus: not a complete Modbus/TCP frame (short, or protocol id not 0)",
                field=None,
                reason="malformed_frame",
            )
        if frame_len != len(data):
            raise FrameParseError(
                f"modbus: MBAP length says {frame_len} bytes, frame has {len(data)}",
                field="length",
                reason="malformed_frame",
            )
        pdu = self._decoder.decode(pdu_bytes)
        if pdu is None:
            raise FrameParseError(
                f"modbus: function code {pdu_bytes[0]} does not decode as a {self.spec.direction}",
                field="function_code",
                reason="malformed_frame",
            )
        values: dict[str, Any] = {
            "transaction_id": tid,
            "unit_id": unit_id,
            "function_code": pdu_bytes[0],
        }
        values.update(_content(pdu))
        values["data"] = _registers_bytes(values.get("registers") or [])
        if self._frame(values) != data:
            raise FrameParseError(
                "modbus: frame is not canonical (trailing or inconsistent bytes)",
                field=None,
                reason="malformed_frame",
            )
        for field in self.typed_fields:
            values[field.name] = self._read_typed(field, values["data"])
        return values

    def build(self, values: Mapping[str, Any]) -> bytes:
        """Encode one ADU from parsed-style values.

        Raises:
            FieldValueError: A value is missing or does not fit.
        """
        values = dict(values)
        if self.typed_fields and any(f.name in values for f in self.typed_fields):
            values["data"] = self._write_typed(values)
            values.pop("registers", None)
        if "registers" not in values and values.get("data"):
            values["registers"] = _registers_from(values["data"])
        return self._frame(values)

    def _frame(self, values: Mapping[str, Any]) -> bytes:
        for key in ("transaction_id", "unit_id", "function_code"):
            if not isinstance(values.get(key), int):
                raise FieldValueError(f"modbus: {key} is required", field=key, reason="missing")
        fc = values["function_code"]
        try:
            if fc & 0x80:
                pdu: ModbusPDU = ExceptionResponse(fc & 0x7F, values.get("exception_code", 0))
            else:
                pdu = self._pdu_class(fc, values.get("sub_function_code", -1))()
                for key, value in values.items():
                    if key in vars(pdu) and key not in _PRIVATE:
                        setattr(pdu, key, value)
                if values.get("sub_function_code", -1) >= 0:
                    pdu.sub_function_code = values["sub_function_code"]
            pdu.dev_id = values["unit_id"]
            pdu.transaction_id = values["transaction_id"]
            out: bytes = self._framer.buildFrame(pdu)
        except (ModbusException, ValueError, TypeError, OverflowError, AttributeError) as exc:
            raise FieldValueError(
                f"modbus: cannot encode function code {fc}: {exc}",
                field="function_code",
                reason="unencodable",
            ) from exc
        return out

    def _pdu_class(self, fc: int, sub: int) -> type[ModbusPDU]:
        pair = self._decoder.pdu_table.get(fc)
        if pair is None:
            raise ValueError(f"unknown function code {fc}")
        cls = pair[self._side]
        if sub >= 0 and fc in self._decoder.pdu_sub_table:
            sub_pair = self._decoder.pdu_sub_table[fc].get(sub)
            if sub_pair is not None:
                cls = sub_pair[self._side]
        return cls

    def _read_typed(self, field: ProtocolField, data: bytes) -> Any:
        assert field.offset is not None
        try:
            raw = read_scalar(data, field.offset, field_dtype(field), field.layout)
        except IndexError as exc:
            raise FrameParseError(
                f"modbus: field {field.name!r}: {exc}", field=field.name, reason="short_data"
            ) from exc
        return to_engineering(field, raw)

    def _write_typed(self, values: Mapping[str, Any]) -> bytes:
        end = max(
            [(f.offset or 0) + DTYPES[field_dtype(f)][1] for f in self.typed_fields]
            + [len(values.get("data") or b"")]
        )
        buf = bytearray((values.get("data") or b"").ljust(end + (end % 2), b"\x00"))
        for field in self.typed_fields:
            assert field.offset is not None
            raw = to_raw(field, check_value(field, values.get(field.name)))
            packed = scalar_con(field_dtype(field), field.layout).build(raw)
            buf[field.offset : field.offset + len(packed)] = packed
        return bytes(buf)


def _content(pdu: ModbusPDU) -> dict[str, Any]:
    out = {k: v for k, v in vars(pdu).items() if k not in _PRIVATE and not k.startswith("_")}
    if isinstance(out.get("registers"), tuple | list):
        out["registers"] = list(out["registers"])
    if isinstance(out.get("bits"), tuple | list):
        out["bits"] = list(out["bits"])
    if pdu.sub_function_code >= 0:
        out["sub_function_code"] = pdu.sub_function_code
    return out


def _registers_bytes(registers: list[int]) -> bytes:
    try:
        return b"".join(r.to_bytes(2, "big") for r in registers)
    except (OverflowError, AttributeError):
        return b""


def _registers_from(data: bytes) -> list[int]:
    if not isinstance(data, bytes | bytearray):
        raise FieldValueError(
            f"modbus: data is {type(data).__name__}, not bytes", field="data", reason="wrong_type"
        )
    if len(data) % 2:
        raise FieldValueError(
            f"modbus: register data of {len(data)} bytes is not whole registers",
            field="data",
            reason="odd_length",
        )
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
