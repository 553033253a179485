"""Codec laws: parse(build(x)) == x and build(parse(b)) == b, plus typed parse errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import TranslationError
from engine.translation.codecs import codec_for
from engine.translation.errors import FieldValueError, FrameParseError, SpecError
from engine.translation.pcap import split_mbap
from engine.translation.scalars import read_scalar
from engine.translation.spec import FieldType, ProtocolField, ProtocolSpecification

from .conftest import modbus_response_spec, mqtt_json_spec

LAYOUT = ProtocolSpecification(
    protocol_id="dev",
    protocol_type="custom",
    fields=[
        ProtocolField(
            name="kind", field_type=FieldType.ENUM, length=1, enum_values={"a": 1, "b": 7}
        ),
        ProtocolField(name="count", field_type=FieldType.INTEGER, length=2, signed=True),
        ProtocolField(name="temp", field_type=FieldType.FLOAT, length=4, word_order="little"),
        ProtocolField(name="big", field_type=FieldType.INTEGER, length=4, byte_order="little"),
        ProtocolField(name="ok", field_type=FieldType.BOOLEAN, length=1),
        ProtocolField(name="name", field_type=FieldType.STRING, length=32),
        ProtocolField(name="blob", field_type=FieldType.BINARY),
    ],
)

layout_values = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["a", "b"]),
        "count": st.integers(-32768, 32767),
        "temp": st.floats(width=32, allow_nan=False, allow_infinity=False),
        "big": st.integers(0, 2**32 - 1),
        "ok": st.booleans(),
        "name": st.text(max_size=10),
        "blob": st.binary(max_size=20),
    }
)


@settings(max_examples=150, deadline=None)
@given(layout_values)
def test_layout_parse_build_roundtrip(values: dict) -> None:
    codec = codec_for(LAYOUT)
    frame = codec.build(values)
    assert codec.parse(frame) == values
    assert codec.build(codec.parse(frame)) == frame


def test_layout_word_and_byte_order_on_the_wire() -> None:
    codec = codec_for(LAYOUT)
    frame = codec.build(
        {
            "kind": "b",
            "count": -2,
            "temp": 1.0,
            "big": 0x01020304,
            "ok": True,
            "name": "x",
            "blob": b"\x09",
        }
    )
    # temp 1.0 = 3F800000 big-endian; CDAB puts the low word first.
    assert frame[:3] == b"\x07\xff\xfe"
    assert frame[3:7] == b"\x00\x00\x3f\x80"
    # byte_order little with word_order big is BADC: bytes swapped inside each word.
    assert frame[7:11] == b"\x02\x01\x04\x03"
    assert frame[11:] == b"\x01\x00\x01x\x09"


@pytest.mark.parametrize(
    ("layout", "wire"),
    [("ABCD", "41ac0000"), ("DCBA", "0000ac41"), ("BADC", "ac410000"), ("CDAB", "000041ac")],
)
def test_four_byte_orders_read_the_same_float(layout: str, wire: str) -> None:
    assert read_scalar(bytes.fromhex(wire), 0, "f32", layout) == 21.5


@pytest.mark.parametrize(
    ("frame", "field"),
    [(b"\x07\x00", "count"), (b"\x09" + bytes(20), "kind")],
)
def test_layout_bad_frame_is_typed_error(frame: bytes, field: str) -> None:
    with pytest.raises(FrameParseError) as info:
        codec_for(LAYOUT).parse(frame)
    assert info.value.field == field


def test_layout_value_that_does_not_fit_names_field() -> None:
    with pytest.raises(FieldValueError) as info:
        codec_for(LAYOUT).build(
            {
                "kind": "a",
                "count": 40000,
                "temp": 0.0,
                "big": 0,
                "ok": False,
                "name": "",
                "blob": b"",
            }
        )
    assert (info.value.field, info.value.reason) == ("count", "out_of_range")


def test_offset_overlap_is_refused() -> None:
    spec = LAYOUT.model_copy(
        update={"fields": [*LAYOUT.fields[:2], LAYOUT.fields[2].model_copy(update={"offset": 1})]}
    )
    with pytest.raises(SpecError):
        codec_for(spec)


def test_modbus_every_capture_frame_roundtrips(capture_frames: list[tuple[bool, bytes]]) -> None:
    codecs = {
        True: codec_for(modbus_response_spec()),
        False: codec_for(modbus_response_spec().model_copy(update={"direction": "request"})),
    }
    accepted = 0
    for is_response, adu in capture_frames:
        values = codecs[is_response].parse(adu)
        assert codecs[is_response].build(values) == adu
        accepted += 1
    assert accepted == len(capture_frames) > 2000


# One request and one response per public function code, plus exception responses.
PUBLIC_FRAMES = [
    ("request", "0001000000060a0100000001"),
    ("response", "0001000000040a010100"),
    ("request", "000100000006010200100008"),
    ("response", "000100000004010201ff"),
    ("request", "0001000000060a0300050002"),
    ("response", "0001000000070a030400090018"),
    ("response", "000100000007010404000057ea"),
    ("request", "0001000000060a0500020000"),
    ("request", "0001000000060a060005000b"),
    ("response", "000000000003010715"),
    ("request", "0000000000060a0800040000"),
    ("response", "000000000006010b00000000"),
    ("request", "000100000009010f0013000a02cd01"),
    ("request", "00010000000b011000010002040001000a"),
    ("response", "000100000006011000010002"),
    ("request", "0000000000020a11"),
    ("request", "000100000008011600040012fffe"),
    ("request", "000100000004011804d2"),
    ("response", "0001000000030a8106"),
    ("response", "0001000000030a8302"),
]


@pytest.mark.parametrize(("direction", "hexframe"), PUBLIC_FRAMES)
def test_modbus_function_codes_roundtrip(direction: str, hexframe: str) -> None:
    codec = codec_for(modbus_response_spec().model_copy(update={"direction": direction}))
    frame = bytes.fromhex(hexframe)
    values = codec.parse(frame)
    assert values["function_code"] == frame[7]
    assert codec.build(values) == frame
    assert codec.parse(codec.build(values)) == values


def test_modbus_exception_response_fields() -> None:
    values = codec_for(modbus_response_spec()).parse(bytes.fromhex("0001000000030a8302"))
    assert (values["function_code"], values["exception_code"], values["unit_id"]) == (0x83, 2, 10)


@pytest.mark.parametrize(
    "hexframe",
    [
        "000100000004",
        "0001000000080a030400090018",
        "0001000500070a030400090018",
        "0001000000030a6301",
    ],
)
def test_modbus_malformed_frames_are_refused(hexframe: str) -> None:
    with pytest.raises(FrameParseError):
        codec_for(modbus_response_spec()).parse(bytes.fromhex(hexframe))


def test_modbus_typed_register_fields() -> None:
    spec = modbus_response_spec().model_copy(
        update={
            "fields": [
                ProtocolField(
                    name="temp", field_type=FieldType.FLOAT, offset=0, length=4, word_order="little"
                ),
                ProtocolField(
                    name="raw", field_type=FieldType.INTEGER, offset=4, length=2, scale=0.5
                ),
            ]
        }
    )
    codec = codec_for(spec)
    frame = codec.build(
        {"transaction_id": 9, "unit_id": 3, "function_code": 3, "temp": 21.5, "raw": 7.5}
    )
    assert frame.hex() == "0009000000090303060000" + "41ac000f"
    values = codec.parse(frame)
    assert values["registers"] == [0x0000, 0x41AC, 15]
    assert (values["temp"], values["raw"]) == (21.5, 7.5)


mqtt_values = st.fixed_dictionaries(
    {
        "topic": st.text(
            alphabet=st.characters(blacklist_characters="+#\x00", blacklist_categories=("Cs",)),
            min_size=1,
            max_size=40,
        ),
        "qos": st.sampled_from([0, 1, 2]),
        "retain": st.booleans(),
        "dup": st.booleans(),
        "payload": st.binary(max_size=300),
    }
).map(lambda v: {**v, "packet_id": 77 if v["qos"] else None})

RAW_MQTT = ProtocolSpecification(
    protocol_id="mqtt", protocol_type="mqtt", framing="mqtt_publish", fields=[]
)


@settings(max_examples=150, deadline=None)
@given(mqtt_values)
def test_mqtt_publish_roundtrip(values: dict) -> None:
    codec = codec_for(RAW_MQTT)
    frame = codec.build(values)
    assert frame[0] >> 4 == 3
    assert codec.parse(frame) == values
    assert codec.build(codec.parse(frame)) == frame


def test_mqtt_wire_format_and_json_payload() -> None:
    codec = codec_for(mqtt_json_spec())
    frame = codec.build({"topic": "a/b", "level": 1.5, "alarm": True, "qos": 1, "packet_id": 10})
    body = b'{"level":1.5,"alarm":true}'
    assert frame == bytes([0x32, 2 + 3 + 2 + len(body)]) + b"\x00\x03a/b\x00\x0a" + body
    assert codec.parse(frame)["level"] == 1.5


def test_mqtt_long_remaining_length_uses_varint() -> None:
    codec = codec_for(RAW_MQTT)
    frame = codec.build({"topic": "t", "payload": bytes(200)})
    assert frame[1:3] == bytes([(203 & 0x7F) | 0x80, 203 >> 7])
    assert codec.parse(frame)["payload"] == bytes(200)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x20\x02\x00\x00", "malformed_frame"),  # CONNACK, not PUBLISH
        (b"\x36\x05\x00\x01a\x00\x01", "malformed_frame"),  # QoS 3
        (b"\x30\x80\x00\x00\x01a", "malformed_frame"),  # non-minimal remaining length
        (b"\x30\x03\x00\x01a\x00", "malformed_frame"),  # trailing byte outside remaining length
    ],
)
def test_mqtt_malformed_packets(frame: bytes, reason: str) -> None:
    with pytest.raises(FrameParseError) as info:
        codec_for(RAW_MQTT).parse(frame)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"topic": "a/+", "payload": b""}, "topic"),
        ({"topic": "a", "payload": b"", "qos": 1}, "packet_id"),
        ({"topic": "a", "payload": "text"}, "payload"),
    ],
)
def test_mqtt_bad_values_name_field(values: dict, field: str) -> None:
    with pytest.raises(TranslationError) as info:
        codec_for(RAW_MQTT).build(values)
    assert info.value.field == field


def test_split_mbap_keeps_whole_adus() -> None:
    adu = bytes.fromhex("0001000000060a0100000001")
    assert split_mbap(adu + adu + adu[:5]) == [adu, adu]
    assert struct.unpack(">H", adu[4:6])[0] == 6
