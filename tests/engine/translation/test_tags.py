"""Tag maps: decoding each type, order and scale; JSON and per-tag messages; the rule-set format."""

from __future__ import annotations

import struct
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from engine.llm.translation_studio import ProtocolTranslationStudio
from engine.translation import store
from engine.translation.errors import RuleRuntimeError, RulesValidationError
from engine.translation.evaluate import Translator
from engine.translation.mqtt import MqttPublishCodec, split_packets
from engine.translation.rules import ConstantRule, TemplateRule
from engine.translation.tag_decode import decode_block, decode_tag, encode_tag
from engine.translation.tag_publish import MQTT_RAW, tag_rule_set
from engine.translation.tags import BlockContext, Tag, TagBlock, TagMap, TagOutput

from .conftest import hand_rules

MQTT = MqttPublishCodec(MQTT_RAW)
TS_NS = 1_733_050_000_123_456_789


def response(unit: int, fc: int, registers: bytes, tid: int = 7) -> bytes:
    """A Modbus/TCP read response carrying ``registers``."""
    pdu = bytes([fc, len(registers)]) + registers
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def messages(out: bytes) -> list[tuple[str, dict]]:
    return [(p["topic"], orjson.loads(p["payload"])) for p in map(MQTT.parse, split_packets(out))]


# Each case: tag, the register bytes at its address, the value it must decode to.
CASES = [
    (Tag(name="t", address=0, type="u16"), b"\xff\xfe", 65534),
    (Tag(name="t", address=0, type="i16"), b"\xff\xfe", -2),
    (Tag(name="t", address=0, type="u16", byte_order="little"), b"\x34\x12", 0x1234),
    (Tag(name="t", address=0, type="i16", scale=0.1, unit="degC"), b"\x00\xd7", 21.5),
    (Tag(name="t", address=0, type="i16", scale=0.1, offset=-40), b"\xff\x9c", -50.0),
    (Tag(name="t", address=0, type="u16", scale=0.1), b"\x03\xf3", 101.1),  # not ...00001
    (Tag(name="t", address=0, type="u32"), b"\x12\x34\x56\x78", 0x12345678),
    (Tag(name="t", address=0, type="u32", word_order="little"), b"\x56\x78\x12\x34", 0x12345678),
    (Tag(name="t", address=0, type="u32", byte_order="little"), b"\x34\x12\x78\x56", 0x12345678),
    (
        Tag(name="t", address=0, type="u32", byte_order="little", word_order="little"),
        b"\x78\x56\x34\x12",
        0x12345678,
    ),
    (Tag(name="t", address=0, type="i32"), b"\xff\xff\xff\xfe", -2),
    (
        Tag(name="t", address=0, type="i32", word_order="little", scale=0.01),
        b"\xff\xfe\xff\xff",
        -0.02,
    ),
    (Tag(name="t", address=0, type="f32"), struct.pack(">f", 21.5), 21.5),
    (Tag(name="t", address=0, type="f32", word_order="little"), b"\x00\x00\x41\xac", 21.5),
    (Tag(name="t", address=0, type="f32", scale=2.0, offset=1.0), struct.pack(">f", 1.5), 4.0),
    (Tag(name="t", address=0, type="f32"), struct.pack(">f", float("nan")), None),
    (Tag(name="t", address=0, type="bool"), b"\x00\x00", False),
    (Tag(name="t", address=0, type="bool"), b"\x01\x00", True),
    (Tag(name="t", address=0, type="bool", bit=9), b"\x02\x00", True),
    (Tag(name="t", address=0, type="bool", bit=8), b"\x02\x00", False),
    (
        Tag(name="t", address=0, type="bits", bit_names={"run": 0, "alarm": 3, "hi": 15}),
        b"\x80\x09",
        {"run": True, "alarm": True, "hi": True},
    ),
    (Tag(name="t", address=0, type="bits"), b"\x00\x05", [True, False, True] + [False] * 13),
]


@pytest.mark.parametrize(("tag", "raw", "expected"), CASES)
def test_each_type_order_and_scale_decodes(tag: Tag, raw: bytes, expected: object) -> None:
    # Placed at register 3 of a block starting at register 2, among other bytes.
    moved = tag.model_copy(update={"address": 3})
    data = b"\xaa\xbb" + raw + b"\xcc\xdd"
    value = decode_tag(moved, data, start=2)
    if isinstance(expected, float):
        assert value == pytest.approx(expected, rel=1e-9) and isinstance(value, float)
        assert repr(value) == repr(expected) or moved.type == "f32"
    else:
        assert value == expected and type(value) is type(expected)
    if expected is not None and moved.type not in ("bits",):
        assert decode_tag(moved, encode_tag(moved, expected), start=3) == value  # inverse


def test_tags_outside_the_block_are_left_out() -> None:
    tag_map = TagMap(
        tags=[
            Tag(name="a", address=10),
            Tag(name="b", address=11, type="u32"),  # needs 11 and 12: block ends at 11
            Tag(name="c", address=10, function_code=4),  # the other table
        ]
    )
    assert decode_block(tag_map, 3, 10, b"\x00\x01\x00\x02") == {"a": 1}


def sim_like_map(output: TagOutput | None = None) -> TagMap:
    return TagMap(
        tags=[
            Tag(name="temperature", address=100, type="i16", scale=0.1, unit="degC"),
            Tag(name="running", address=101, type="bool", bit=0),
            Tag(name="energy", address=102, type="u32", word_order="little", unit="kWh"),
            Tag(name="pressure", address=0, function_code=4, scale=0.01, unit="bar"),
        ],
        blocks=[TagBlock(name="boiler", start=100)],
        output=output or TagOutput(),
    )


BOILER = struct.pack(">hHHH", 215, 1, 0x0002, 0x0001)  # 21.5 degC, running, energy 0x00010002


def test_json_mode_one_message_per_block_with_named_values() -> None:
    rules = tag_rule_set(sim_like_map())
    out = Translator(rules).translate(
        response(1, 3, BOILER), BlockContext(3, 100, 4, captured_ns=TS_NS)
    )
    assert messages(out) == [
        (
            "cronos/1/boiler",
            {
                "ts": 1_733_050_000_123,
                "unit": 1,
                "block": "boiler",
                "tags": {"temperature": 21.5, "running": True, "energy": 0x00010002},
                "uom": {"temperature": "degC", "energy": "kWh"},
            },
        )
    ]
    # Another block of the same unit lands on a topic of its own (default block name).
    inputs = Translator(rules).translate(response(1, 4, b"\x05\xdc"), BlockContext(4, 0, 1))
    assert messages(inputs) == [
        (
            "cronos/1/ir0",
            {"unit": 1, "block": "ir0", "tags": {"pressure": 15.0}, "uom": {"pressure": "bar"}},
        )
    ]


def test_per_tag_mode_one_topic_per_tag_from_the_template() -> None:
    output = TagOutput(mode="per_tag", topic="site/{unit}/{block}/{tag}", units=False)
    rules = tag_rule_set(sim_like_map(output))
    out = Translator(rules).translate(response(2, 3, BOILER), BlockContext(3, 100, 4, TS_NS))
    got = messages(out)
    assert [t for t, _ in got] == [
        "site/2/boiler/temperature",
        "site/2/boiler/running",
        "site/2/boiler/energy",
    ]
    assert got[0][1] == {
        "ts": 1_733_050_000_123,
        "unit": 2,
        "block": "boiler",
        "tag": "temperature",
        "value": 21.5,
    }
    assert [d["value"] for _, d in got] == [21.5, True, 0x00010002]


def test_topic_templates_are_checked() -> None:
    TagOutput(topic="plant/{unit}/fc{function_code}/{start}")
    for bad in (
        {"mode": "per_tag", "topic": "plant/{unit}"},  # every tag on one topic
        {"topic": "plant/{tag}"},  # {tag} in json mode
        {"topic": "plant/{address}"},  # unknown placeholder
        {"topic": "plant/+/{unit}"},  # wildcard
    ):
        with pytest.raises(ValidationError):
            TagOutput(**bad)
    with pytest.raises(ValidationError):
        Tag(name="x", address=0, type="bool", scale=2.0)
    with pytest.raises(ValidationError):
        TagMap(tags=[Tag(name="x", address=0), Tag(name="x", address=1)])


def test_context_is_required_and_must_match_the_response() -> None:
    translator = Translator(tag_rule_set(sim_like_map()))
    frame = response(1, 3, BOILER)
    with pytest.raises(RuleRuntimeError) as missing:
        translator.translate(frame)
    assert missing.value.reason == "missing_context"
    with pytest.raises(RuleRuntimeError) as other:
        translator.translate(frame, BlockContext(4, 100, 4))
    assert other.value.reason == "context_mismatch"
    with pytest.raises(RuleRuntimeError) as empty:
        translator.translate(frame, BlockContext(3, 500, 4))
    assert empty.value.reason == "no_tags_in_block"


def test_tag_map_rule_sets_round_trip_through_the_store_and_run_in_the_studio(
    tmp_path: Path,
) -> None:
    rules = tag_rule_set(sim_like_map(TagOutput(mode="per_tag")), "1.2.0")
    loaded = store.load(store.save(rules, tmp_path))
    assert loaded.tag_map == rules.tag_map
    studio = ProtocolTranslationStudio()
    studio.activate_rules(loaded)
    out = studio.translate_sync("modbus", "mqtt", response(1, 3, BOILER), BlockContext(3, 100))
    assert len(split_packets(out)) == 3


def test_raw_rule_sets_are_unchanged(tmp_path: Path) -> None:
    rules = hand_rules()
    path = store.save(rules, tmp_path)
    assert "tag_map" not in orjson.loads(path.read_bytes())["rules"]  # older readers load it
    assert store.load(path).tag_map is None


def test_tag_map_sets_leave_topic_and_payload_to_the_map() -> None:
    base = tag_rule_set(sim_like_map())
    bad = base.model_copy(update={"rules": [TemplateRule(target="topic", template="x/{unit_id}")]})
    with pytest.raises(RulesValidationError):
        Translator(bad)
    retained = base.model_copy(update={"rules": [ConstantRule(target="retain", value=True)]})
    out = Translator(retained).translate(response(1, 3, BOILER), BlockContext(3, 100))
    assert MQTT.parse(out)["retain"] is True
