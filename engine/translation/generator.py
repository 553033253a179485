"""Offline, deterministic rule generation from two specifications.

Target fields are matched to source fields by name (tokens and a small synonym table),
description words and type compatibility; required target fields left unmatched get a constant
(or, for an MQTT topic, a template over the source's identifying integers). Test cases are sampled
from the source specification (boundaries and typical values of every field) and the accuracy is
the share of them the rule set translates end to end, value checks included.
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import TranslationError
from engine.translation.codecs import codec_for
from engine.translation.evaluate import apply_rule
from engine.translation.fields import framing_fields, required_targets
from engine.translation.rules import (
    ConstantRule,
    CopyRule,
    MapRule,
    TemplateRule,
    TestCase,
    TranslationRules,
)
from engine.translation.scalars import field_dtype, int_range
from engine.translation.spec import FieldType, Framing, ProtocolField, ProtocolSpecification
from engine.translation.validation import score

_SYNONYMS = [
    {"data", "payload", "value", "values", "body", "content", "registers"},
    {"function_code", "message_type", "msg_type", "type", "command", "opcode", "fc"},
    {"address", "register", "addr", "offset", "start_address"},
    {"unit_id", "device_id", "slave_id", "station", "dev_id"},
    {"topic", "channel", "path", "subject"},
    {"transaction_id", "packet_id", "sequence", "seq", "message_id"},
    {"temperature", "temp"},
    {"pressure", "press"},
]
_STOP = {"the", "a", "an", "of", "in", "to", "and", "or", "for", "is", "field", "value"}
#: Source type → target types a plain copy can fill.
_COPYABLE = {
    FieldType.INTEGER: {FieldType.INTEGER, FieldType.FLOAT},
    FieldType.FLOAT: {FieldType.FLOAT},
    FieldType.STRING: {FieldType.STRING},
    FieldType.BINARY: {FieldType.BINARY},
    FieldType.BOOLEAN: {FieldType.BOOLEAN},
    FieldType.ENUM: {FieldType.ENUM, FieldType.STRING},
}
_ID_FIELDS = ("unit_id", "device_id", "address")
MATCH_THRESHOLD = 0.5


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def name_score(a: str, b: str) -> float:
    """Similarity of two field names in 0..1 (1 = same, 0.9 = synonyms)."""
    a, b = a.lower(), b.lower()
    if a == b:
        return 1.0
    if any(a in group and b in group for group in _SYNONYMS):
        return 0.9
    ta, tb = set(a.split("_")), set(b.split("_"))
    return 0.8 * len(ta & tb) / len(ta | tb)


def match_score(src: ProtocolField, dst: ProtocolField) -> float:
    """How well ``src`` fits ``dst``: name or description similarity, 0 if types don't mix."""
    if not _compatible(src, dst):
        return 0.0
    best = name_score(src.name, dst.name)
    ws, wd = _words(src.description), _words(dst.description)
    if ws and wd:
        best = max(best, 0.7 * len(ws & wd) / len(ws | wd))
    if dst.name.lower() in ws or src.name.lower() in wd:
        best = max(best, 0.6)
    return best


def _compatible(src: ProtocolField, dst: ProtocolField) -> bool:
    if dst.field_type in _COPYABLE[src.field_type]:
        return True
    # Numbers can always be rendered into a string (template "{name}").
    return dst.field_type is FieldType.STRING and src.field_type in (
        FieldType.INTEGER,
        FieldType.FLOAT,
        FieldType.BOOLEAN,
    )


def propose_rules(source: ProtocolSpecification, target: ProtocolSpecification) -> list[Any]:
    """One rule per matched or required target field."""
    sources = framing_fields(source)
    required = set(required_targets(target))
    rules: list[Any] = []
    for name, dst in framing_fields(target).items():
        ranked = sorted(
            ((match_score(s, dst), s) for s in sources.values()),
            key=lambda pair: (-pair[0], pair[1].name),
        )
        if ranked and ranked[0][0] >= MATCH_THRESHOLD:
            rules.append(_transfer(ranked[0][1], dst))
        elif name in required:
            rules.append(_default(name, dst, source))
    return rules


def _transfer(src: ProtocolField, dst: ProtocolField) -> Any:
    if dst.field_type is FieldType.STRING and src.field_type is not FieldType.STRING:
        if src.field_type is FieldType.ENUM:
            return CopyRule(target=dst.name, source=src.name)
        return TemplateRule(target=dst.name, template="{" + src.name + "}")
    if dst.field_type is FieldType.ENUM and src.field_type is FieldType.ENUM:
        assert src.enum_values is not None and dst.enum_values is not None
        shared = [(label, label) for label in src.enum_values if label in dst.enum_values]
        if shared and len(shared) < len(src.enum_values):
            return MapRule(target=dst.name, source=src.name, mapping=shared)
    return CopyRule(target=dst.name, source=src.name)


def _default(name: str, dst: ProtocolField, source: ProtocolSpecification) -> Any:
    if dst.field_type is FieldType.STRING:
        ids = [f for f in _ID_FIELDS if f in framing_fields(source)]
        template = "/".join([source.protocol_id] + ["{" + f + "}" for f in ids])
        return TemplateRule(target=name, template=template)
    defaults: dict[FieldType, Any] = {
        FieldType.INTEGER: 3 if name == "function_code" else (1 if name == "unit_id" else 0),
        FieldType.FLOAT: 0.0,
        FieldType.BINARY: b"",
        FieldType.BOOLEAN: False,
    }
    if dst.field_type is FieldType.ENUM:
        assert dst.enum_values is not None
        return ConstantRule(target=name, value=next(iter(dst.enum_values)))
    return ConstantRule(target=name, value=defaults[dst.field_type])


def sample_values(field: ProtocolField) -> list[Any]:
    """Boundary and typical values of a field, in engineering units."""
    ftype = field.field_type
    if ftype is FieldType.BOOLEAN:
        return [False, True]
    if ftype is FieldType.ENUM:
        assert field.enum_values is not None
        return list(field.enum_values)
    if ftype is FieldType.FLOAT:
        return [0.0, 1.5, -2.25, 1000.125]
    if ftype is FieldType.STRING:
        limit = field.length or 16
        return ["", "abc", "x" * min(limit, 16), "value"[:limit]]
    if ftype is FieldType.BINARY:
        limit = field.length or 8
        return [b"", b"\x00\x0a", bytes(range(min(limit, 8))), b"\xff" * min(limit, 4)]
    lo, hi = int_range(field_dtype(field))
    raws = [0, 1, hi, hi // 3] if lo == 0 else [0, 1, lo, hi]
    if field.scale == 1.0 and field.value_offset == 0.0:
        return raws
    return [r * field.scale + field.value_offset for r in raws]


def sample_sources(spec: ProtocolSpecification, count: int = 6) -> list[dict[str, Any]]:
    """Source values covering each field's samples, normalised by a build/parse round trip."""
    codec = codec_for(spec)
    out: list[dict[str, Any]] = []
    for i in range(count):
        values: dict[str, Any] = {}
        if spec.framing is Framing.MODBUS_TCP:
            values = _modbus_base(spec, i)
        elif spec.framing is Framing.MQTT_PUBLISH:
            values = {"topic": f"test/{i}", "qos": 0, "payload": bytes([i])}
        for field in spec.fields:
            if spec.framing is Framing.MODBUS_TCP and field.offset is None:
                continue  # framing fields come from the base frame
            samples = sample_values(field)
            values[field.name] = samples[i % len(samples)]
        try:
            out.append(codec.parse(codec.build(values)))
        except TranslationError:
            continue  # a sample the spec itself cannot carry is not a test case
    return out


def _modbus_base(spec: ProtocolSpecification, i: int) -> dict[str, Any]:
    end = max([(f.offset or 0) + 8 for f in spec.fields if f.offset is not None] + [4])
    registers = [(0x1234 * (i + 1) + 7 * r) & 0xFFFF for r in range((end + 1) // 2)]
    base: dict[str, Any] = {"transaction_id": i + 1, "unit_id": 1 + i % 3, "function_code": 3}
    if spec.direction == "request":
        base.update(address=100 * (i + 1), count=len(registers))
    else:
        base["registers"] = registers
    return base


def build_test_cases(rules: list[Any], sources: list[dict[str, Any]]) -> list[TestCase]:
    """Pair sampled sources with the values the rules define for them.

    A source on which a rule fails gets an empty expectation; it still counts against accuracy
    because translating it raises.
    """
    cases = []
    for src in sources:
        try:
            expected = {r.target: apply_rule(r, src) for r in rules}
        except TranslationError:
            expected = {}
        cases.append(TestCase(source=src, expected_target=expected))
    return cases


def generate(
    source: ProtocolSpecification, target: ProtocolSpecification, version: str = "1.0.0"
) -> TranslationRules:
    """Generate a rule set and measure its accuracy on sampled test cases."""
    rules = propose_rules(source, target)
    cases = build_test_cases(rules, sample_sources(source))
    draft = TranslationRules(
        version=version,
        source_protocol=source.protocol_id,
        target_protocol=target.protocol_id,
        source_spec=source,
        target_spec=target,
        rules=rules,
        test_cases=cases,
        generator="deterministic",
    )
    return with_accuracy(draft)


def with_accuracy(rules: TranslationRules) -> TranslationRules:
    """Copy of ``rules`` with ``accuracy`` measured on its own test cases."""
    metrics = score(rules, rules.test_cases)
    return rules.model_copy(update={"accuracy": metrics["pass_rate"]})
