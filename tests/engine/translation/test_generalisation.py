"""Learned rules must generalise: checked on examples the learner never saw (issue 16, point 2)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from engine.translation.codecs import codec_for
from engine.translation.evaluate import Translator
from engine.translation.holdout import Holdout, folds, holdout_score
from engine.translation.learner import learn
from engine.translation.rules import LinearRule, MapRule, TemplateRule, TranslationRules
from engine.translation.spec import FieldType

from .conftest import spec
from .test_guide import BATCH_TRAINING, RULE_GENERATION, SETUP, VALIDATION, run_block


def guide_examples(rng: random.Random, rounds: int = 2) -> list[dict[str, Any]]:
    """Function codes 3, 4, 6 and 16 at random addresses; read topic for 3 and 4."""
    out = []
    for fc in [3, 4, 6, 16] * rounds:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(5)))
        out.append(
            {
                "source": {"function_code": fc, "address": rng.randrange(65536), "data": data},
                "expected_target": {
                    "message_type": 1,
                    "topic": "modbus/read" if fc in (3, 4) else "modbus/write",
                    "payload": data,
                },
            }
        )
    return out


@pytest.fixture
def guide_ns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    return {"__name__": "guide"}


@pytest.mark.parametrize("validate", [True, False], ids=["held-out-validation", "no-validation"])
async def test_guide_flow_learns_a_topic_that_translates_the_guide_message(
    guide_ns: dict[str, Any], validate: bool
) -> None:
    rng = random.Random(16)
    training, held_out = guide_examples(rng), guide_examples(rng)
    for block in (SETUP, RULE_GENERATION):
        await run_block(block, guide_ns)
    guide_ns["training_batches"] = [training]
    guide_ns["validation_examples"] = held_out if validate else None
    train = BATCH_TRAINING[BATCH_TRAINING.index("# Train rules on batches") :]
    await run_block(train, guide_ns)
    history = guide_ns["history"]
    assert history["activated"] is True

    # The guide's own test message: function code 3, address 100 (no training example has it).
    # Keyed by address, the learned topic raised RuleRuntimeError here.
    await run_block(VALIDATION[VALIDATION.index("# Test translation") :], guide_ns)
    out = codec_for(guide_ns["target_spec"]).parse(guide_ns["translated"])
    assert out == {"message_type": 1, "topic": "modbus/read", "payload": b"\x00\x0a"}
    topic = {r.target: r for r in history["final_rules"].rules}["topic"]
    assert isinstance(topic, MapRule) and topic.source == "function_code"
    assert history["ambiguities"] == []
    if validate:
        assert history["batch_metrics"][-1]["pass_rate"] == 1.0

    studio = guide_ns["studio"]
    source_codec = codec_for(guide_ns["source_spec"])
    for example in held_out:
        frame = source_codec.build(example["source"])
        got = codec_for(guide_ns["target_spec"]).parse(
            await studio.translate_protocol("modbus", "mqtt", frame)
        )
        assert got == example["expected_target"]


def truth_rules(*rules: Any) -> Translator:
    src = spec(
        "dev",
        "custom",
        ("function_code", FieldType.INTEGER, 1),
        ("unit_id", FieldType.INTEGER, 1),
        ("address", FieldType.INTEGER, 2),
        ("raw", FieldType.INTEGER, 2),
    )
    dst = spec(
        "out",
        "http_json",
        ("topic", FieldType.STRING, 64),
        ("kind", FieldType.STRING, 16),
        ("celsius", FieldType.FLOAT, 8),
    )
    return Translator(
        TranslationRules(
            source_protocol="dev",
            target_protocol="out",
            source_spec=src,
            target_spec=dst,
            rules=list(rules),
        )
    )


TRUTH = (
    TemplateRule(target="topic", template="plant/{unit_id}/fc{function_code}"),
    MapRule(
        target="kind",
        source="function_code",
        mapping=[(1, "coil"), (2, "coil"), (3, "register"), (4, "register")],
    ),
    LinearRule(target="celsius", source="raw", scale=0.1, offset=-40.0),
)


@pytest.mark.parametrize("seed", range(6))
def test_examples_held_out_from_learning_translate_correctly(seed: int) -> None:
    truth = truth_rules(*TRUTH)
    rng = random.Random(seed)
    sources = [
        {
            "function_code": fc,
            "unit_id": rng.randrange(1, 248),
            "address": rng.randrange(65536),
            "raw": rng.randrange(65536),
        }
        for fc in [1, 2, 3, 4] * 4
    ]
    training, held_out = sources[:8], sources[8:]
    examples = [{"source": s, "expected_target": truth.translate_values(s)} for s in training]
    result = learn(examples, truth.rules.source_spec, truth.rules.target_spec)
    learned = truth_rules(*result.rules)
    for source in held_out:
        assert learned.translate_values(source) == truth.translate_values(source)
    assert result.holdout["kind"] == Holdout(passed=8, total=8)
    # The address map fitted every example too, but no address repeats: refused, not kept.
    assert any(line.startswith("kind: map(source=address") for line in result.rejected)


def test_a_map_whose_keys_never_repeat_is_not_chosen() -> None:
    src = spec("dev", "custom", ("address", FieldType.INTEGER, 2))
    dst = spec("out", "http_json", ("topic", FieldType.STRING, 64))
    examples = [
        {"source": {"address": a}, "expected_target": {"topic": t}}
        for a, t in [(7, "read"), (900, "write"), (31, "read"), (4000, "write")]
    ]
    result = learn(examples, src, dst)
    assert result.unresolved == ["topic"]
    assert not any(isinstance(r, MapRule) for r in result.rules)
    assert len(result.rejected) == 1 and "held-out 0/4" in result.rejected[0]


def test_what_the_examples_cannot_pin_down_is_reported_ambiguous() -> None:
    def example(fc: int, unit: int, address: int) -> dict[str, Any]:
        source = {"function_code": fc, "unit_id": unit, "address": address, "data": b""}
        topic = "modbus/read" if fc == 3 else "modbus/write"
        return {"source": source, "expected_target": {"topic": topic}}

    src = spec(
        "modbus",
        "custom",
        ("function_code", FieldType.INTEGER, 1),
        ("unit_id", FieldType.INTEGER, 1),
        ("address", FieldType.INTEGER, 2),
        ("data", FieldType.BINARY, None),
    )
    dst = spec("mqtt", "http_json", ("topic", FieldType.STRING, 64))
    # Unit 1 always reads and unit 2 always writes: function code or unit, the examples can't tell.
    examples = [example(3, 1, 10), example(3, 1, 20), example(6, 2, 30), example(6, 2, 40)]
    result = learn(examples, src, dst)
    (kept,) = result.rules
    assert isinstance(kept, MapRule) and kept.source == "function_code"
    assert [r.source for r in result.alternatives["topic"]] == ["unit_id"]
    (line,) = result.ambiguities
    assert line.startswith("topic: kept map(source=function_code") and "unit_id" in line
    assert "held-out 4/4" in line
    assert "address" not in line  # the address map is no evidence, so no alternative either

    # One example that separates them settles it.
    result = learn([*examples, example(3, 2, 50), example(3, 2, 60)], src, dst)
    assert result.ambiguities == [] and result.alternatives == {}
    assert result.rules[0].source == "function_code"


def test_folds_are_leave_one_out_then_round_robin() -> None:
    assert folds(1) == []
    assert folds(3) == [[0], [1], [2]]
    assert folds(5, max_folds=2) == [[0, 2, 4], [1, 3]]


def test_a_line_through_two_points_has_no_held_out_evidence() -> None:
    rule = LinearRule(target="y", source="x", scale=3.0, offset=1.0)
    two = [({"x": 1}, 4.0), ({"x": 2}, 7.0)]
    assert holdout_score(rule, two) == Holdout(passed=0, total=2)
    three = [*two, ({"x": 5}, 16.0)]
    assert holdout_score(rule, three) == Holdout(passed=3, total=3)


def test_of_two_maps_that_predict_as_well_the_one_with_fewer_entries_is_kept() -> None:
    src = spec(
        "dev", "custom", ("function_code", FieldType.INTEGER, 1), ("mode", FieldType.STRING, 8)
    )
    dst = spec("out", "http_json", ("topic", FieldType.STRING, 64))
    examples = [
        {
            "source": {"function_code": fc, "mode": mode},
            "expected_target": {"topic": "modbus/" + mode},
        }
        for fc, mode in [(3, "read"), (4, "read"), (6, "write"), (16, "write")] * 2
    ]
    result = learn(examples, src, dst)
    # A template "modbus/{mode}" generalises best of all; without it, the 2-entry map wins.
    assert result.rules == [TemplateRule(target="topic", template="modbus/{mode}")]
    examples = [
        {"source": e["source"], "expected_target": {"topic": e["source"]["mode"].upper()}}
        for e in examples
    ]
    (kept,) = learn(examples, src, dst).rules
    assert isinstance(kept, MapRule) and (kept.source, len(kept.mapping)) == ("mode", 2)
