"""Learning rules from examples; learned rules vs hand-written rules on real Modbus responses."""

from __future__ import annotations

import pytest

from engine.errors import TranslationError
from engine.llm.translation_studio import ProtocolTranslationStudio
from engine.translation.codecs import codec_for
from engine.translation.compiler import compile_rules, verify
from engine.translation.errors import FieldValueError, FrameParseError, RuleRuntimeError
from engine.translation.evaluate import Translator
from engine.translation.learner import learn
from engine.translation.rules import (
    DecodeRule,
    LinearRule,
    MapRule,
    TemplateRule,
    TranslationRules,
)
from engine.translation.spec import FieldType, ProtocolField, ProtocolSpecification

from .conftest import hand_rules, modbus_response_spec, mqtt_json_spec, spec


def _pick_examples(frames: list[bytes]) -> list[bytes]:
    """Three responses with distinct units and register-1 values, both alarm bit states."""
    picked: list[bytes] = []
    for frame in frames:
        if len(frame) < 13:
            continue
        reg1 = int.from_bytes(frame[11:13], "big")
        if any(f[6] == frame[6] or f[11:13] == frame[11:13] for f in picked):
            continue
        if len(picked) == 2 and {f[12] & 1 for f in picked} == {reg1 & 1}:
            continue
        picked.append(frame)
        if len(picked) == 3:
            return picked
    raise AssertionError("capture lacks three distinct responses")


async def test_learned_rules_match_hand_rules_on_capture(register_responses: list[bytes]) -> None:
    hand = Translator(hand_rules())
    examples = [
        {"source": f, "expected_target": hand.translate(f)}
        for f in _pick_examples(register_responses)
    ]
    studio = ProtocolTranslationStudio()
    history = await studio.train_translation_rules_batch(
        [examples], modbus_response_spec(), mqtt_json_spec(), validation_data=None
    )
    learned: TranslationRules = history["final_rules"]
    kinds = {r.target: r for r in learned.rules}
    assert kinds["topic"] == TemplateRule(target="topic", template="plant/{unit_id}/ir")
    assert isinstance(kinds["level"], DecodeRule) and kinds["level"].scale == 0.1
    assert history["activated"] is True
    assert len(register_responses) > 1000
    translated = 0
    for frame in register_responses:
        try:
            expected: object = hand.translate(frame)
        except TranslationError as exc:
            expected = (type(exc), exc.field, exc.reason)
        try:
            got: object = await studio.translate_protocol("modbus", "mqtt", frame)
        except TranslationError as exc:
            got = (type(exc), exc.field, exc.reason)
        assert got == expected
        translated += isinstance(got, bytes)
    # One-register responses (unit 7) have no register 1: both refuse them the same way.
    assert translated > 900
    assert studio.get_statistics()["successful_translations"] == translated


def test_compiled_equals_interpreter_on_every_capture_frame(
    capture_frames: list[tuple[bool, bytes]],
) -> None:
    compiled = compile_rules(hand_rules())
    assert "inlined Modbus/TCP register-read framing" in compiled.optimizations
    frames = [adu for _, adu in capture_frames]
    # Requests, FC6 echoes and truncated frames must fail exactly as in the interpreter.
    frames += [f[:-1] for f in frames[:50]] + [f + b"\x00" for f in frames[:50]]
    assert verify(compiled, frames) == []


SRC = ProtocolSpecification(
    protocol_id="modbus",
    protocol_type="modbus",
    framing="modbus_tcp",
    direction="request",
    fields=[],
)
RAW_MQTT = ProtocolSpecification(
    protocol_id="mqtt", protocol_type="mqtt", framing="mqtt_publish", fields=[]
)


def test_topic_template_learned_from_three_requests() -> None:
    examples = [
        {
            "source": {"unit_id": u, "address": a, "function_code": 3, "transaction_id": t},
            "expected_target": {"topic": f"plant/{u}/hr/{a}", "payload": b""},
        }
        for u, a, t in [(1, 100, 5), (2, 7, 6), (9, 7, 9)]
    ]
    result = learn(examples, SRC, RAW_MQTT)
    assert result.rules[0] == TemplateRule(target="topic", template="plant/{unit_id}/hr/{address}")


def test_single_example_is_reported_ambiguous() -> None:
    example = {
        "source": {"unit_id": 1, "address": 1, "function_code": 3, "transaction_id": 1},
        "expected_target": {"topic": "plant/1", "payload": b""},
    }
    result = learn([example], SRC, RAW_MQTT)
    assert result.rules[0].kind == "constant"  # simplest that fits one example
    assert any(a.startswith("topic:") for a in result.ambiguities)


LAYOUT_SRC = spec(
    "dev",
    "custom",
    ("mode", FieldType.INTEGER, 1),
    ("raw", FieldType.INTEGER, 2),
    ("block", FieldType.BINARY, None),
)
LAYOUT_DST = spec(
    "out",
    "http_json",
    ("celsius", FieldType.FLOAT, 4),
    ("state", FieldType.STRING, 16),
    ("pressure", FieldType.FLOAT, 8),
    ("running", FieldType.BOOLEAN, 1),
)


@pytest.mark.parametrize("layout", ["ABCD", "DCBA", "BADC", "CDAB"])
def test_learner_finds_scale_enum_bit_and_byte_order(layout: str) -> None:
    truth = TranslationRules(
        source_protocol="dev",
        target_protocol="out",
        source_spec=LAYOUT_SRC,
        target_spec=LAYOUT_DST,
        rules=[
            LinearRule(target="celsius", source="raw", scale=0.1, offset=-40.0),
            MapRule(target="state", source="mode", mapping=[(0, "off"), (1, "run"), (2, "fault")]),
            DecodeRule(target="pressure", source="block", offset=2, dtype="f32", layout=layout),
            DecodeRule(target="running", source="block", offset=0, dtype="u16", bit=3),
        ],
    )
    reference = Translator(truth)
    codec = codec_for(LAYOUT_SRC)
    import struct

    sources = []
    # Five training rows (every mode twice but one: a value map needs repeated keys as
    # evidence), then three held out from learning.
    rows = [(0, 650, 1013.25, 8), (1, 0, -2.5, 0), (2, 1234, 0.75, 9), (1, 321, 3.5, 8)]
    rows += [(0, 77, 12.0, 1), (2, 999, -7.25, 8), (1, 5, 0.5, 0), (0, 4000, 99.0, 9)]
    for mode, raw, pressure, flags in rows:
        big = struct.pack(">f", pressure)
        from engine.translation.scalars import permutation

        perm = permutation(4, layout)
        wire = bytearray(4)
        for big_pos, wire_pos in enumerate(perm):
            wire[wire_pos] = big[big_pos]
        block = flags.to_bytes(2, "big") + bytes(wire)
        sources.append(codec.parse(codec.build({"mode": mode, "raw": raw, "block": block})))
    examples = [
        {"source": s, "expected_target": reference.translate_values(s)} for s in sources[:5]
    ]
    result = learn(examples, LAYOUT_SRC, LAYOUT_DST)
    by_target = {r.target: r for r in result.rules}
    assert by_target["celsius"] == truth.rules[0]
    assert isinstance(by_target["state"], MapRule)
    pressure = by_target["pressure"]
    assert (pressure.dtype, pressure.offset) == ("f32", 2)
    assert by_target["running"].bit is not None
    for s in sources:
        assert Translator(truth.model_copy(update={"rules": result.rules})).translate_values(
            s
        ) == reference.translate_values(s)


async def test_bad_input_gives_typed_errors_never_output() -> None:
    studio = ProtocolTranslationStudio()
    studio.activate_rules(hand_rules())
    with pytest.raises(FrameParseError) as parse_err:
        await studio.translate_protocol("modbus", "mqtt", b"\x00\x01\x00\x00\x00\x09\x01\x03")
    assert parse_err.value.reason == "malformed_frame"
    # A register read with no data: the decode rule has nothing to read.
    with pytest.raises(RuleRuntimeError) as rule_err:
        await studio.translate_protocol("modbus", "mqtt", bytes.fromhex("00010000000507030200ff"))
    assert rule_err.value.field == "level"
    narrow = hand_rules().model_copy(
        update={
            "target_spec": mqtt_json_spec().model_copy(
                update={
                    "fields": [
                        *mqtt_json_spec().fields[:2],
                        ProtocolField(name="alarm", field_type=FieldType.INTEGER, length=1),
                    ]
                }
            ),
            "rules": [
                *hand_rules().rules[:2],
                DecodeRule(target="alarm", source="data", offset=0, dtype="u16"),
            ],
        }
    )
    studio.activate_rules(narrow)
    with pytest.raises(FieldValueError) as fit_err:
        await studio.translate_protocol(
            "modbus", "mqtt", bytes.fromhex("00010000000707030404000001")
        )
    assert (fit_err.value.field, fit_err.value.reason) == ("alarm", "out_of_range")
    assert isinstance(fit_err.value, TranslationError)
    assert studio.get_statistics()["successful_translations"] == 0
