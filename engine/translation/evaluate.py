"""Running a rule set: the reference (interpreted) path that everything else is checked against.

:class:`Translator` parses a frame with the source codec, runs each rule, checks each value
against its target field and builds the target frame. Any failure is a
:class:`~engine.errors.TranslationError` leaf naming the field and the reason; no partial or
guessed output is ever returned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.errors import TranslationError
from engine.translation.codecs import Codec, codec_for
from engine.translation.errors import RuleRuntimeError, RulesValidationError
from engine.translation.fields import framing_fields, required_targets
from engine.translation.rules import (
    BitRule,
    ConstantRule,
    CopyRule,
    DecodeRule,
    LinearRule,
    MapRule,
    TemplateRule,
    TranslationRules,
    rule_sources,
)
from engine.translation.scalars import read_scalar, scaled
from engine.translation.tag_publish import check_tag_rules, tag_packets
from engine.translation.tags import BlockContext


def apply_rule(rule: Any, source: Mapping[str, Any]) -> Any:
    """Compute one target value from parsed source values.

    Raises:
        RuleRuntimeError: A source value is missing or of a kind the rule cannot use.
    """
    target = rule.target

    def need(name: str) -> Any:
        if name not in source or source[name] is None:
            raise RuleRuntimeError(
                f"rule for {target!r}: source field {name!r} has no value",
                field=target,
                reason="missing_source",
            )
        return source[name]

    try:
        if isinstance(rule, CopyRule):
            return need(rule.source)
        if isinstance(rule, ConstantRule):
            return rule.value
        if isinstance(rule, LinearRule):
            return linear(need(rule.source), rule.scale, rule.offset, rule.integer)
        if isinstance(rule, BitRule):
            value = need(rule.source)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{value!r} is not an integer")
            return bool((value >> rule.bit) & 1)
        if isinstance(rule, MapRule):
            value = need(rule.source)
            for key, out in rule.mapping:
                if key == value and type(key) is type(value):
                    return out
            raise RuleRuntimeError(
                f"rule for {target!r}: source value {value!r} is not in its value map",
                field=target,
                reason="unmapped_value",
            )
        if isinstance(rule, DecodeRule):
            data = need(rule.source)
            if not isinstance(data, bytes | bytearray):
                raise TypeError(f"{rule.source!r} is not bytes")
            raw = read_scalar(bytes(data), rule.offset, rule.dtype, rule.layout)
            if rule.bit is not None:
                return bool((int(raw) >> rule.bit) & 1)
            return scaled(raw, rule.scale, rule.value_offset)
        if isinstance(rule, TemplateRule):
            return rule.template.format_map({n: _text(need(n)) for n in rule.sources})
    except RuleRuntimeError:
        raise
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise RuleRuntimeError(
            f"rule for {target!r} failed: {exc}", field=target, reason="rule_failed"
        ) from exc
    raise RuleRuntimeError(f"unknown rule {rule!r}", field=target, reason="rule_failed")


def linear(value: Any, scale: float, offset: float, integer: bool) -> Any:
    """``value * scale + offset``; with ``integer`` the result must be whole."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    out = value * scale + offset
    if integer:
        rounded = round(out)
        if not math.isfinite(out) or abs(out - rounded) > 1e-9:
            raise ValueError(f"{out!r} is not a whole number")
        return rounded
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    return str(value)


def check_rule_set(rules: TranslationRules) -> None:
    """Static checks: every rule reads known source fields and writes a known target field once,
    and every required target field has a rule.

    A tag-mapped set is checked by :func:`~engine.translation.tag_publish.check_tag_rules`.

    Raises:
        RulesValidationError: With the first problem found.
    """
    if rules.tag_map is not None:
        check_tag_rules(rules)
        return
    sources = framing_fields(rules.source_spec)
    targets = framing_fields(rules.target_spec)
    seen: set[str] = set()
    for rule in rules.rules:
        if rule.target not in targets:
            raise RulesValidationError(f"rule writes unknown target field {rule.target!r}")
        if rule.target in seen:
            raise RulesValidationError(f"two rules write target field {rule.target!r}")
        seen.add(rule.target)
        for name in rule_sources(rule):
            if name not in sources:
                raise RulesValidationError(
                    f"rule for {rule.target!r} reads unknown source field {name!r}"
                )
    missing = [name for name in required_targets(rules.target_spec) if name not in seen]
    if missing:
        raise RulesValidationError(f"no rule for required target field(s) {missing}")


class Translator:
    """Interpreted translation of frames (or parsed values) under one rule set."""

    def __init__(self, rules: TranslationRules) -> None:
        check_rule_set(rules)
        self.rules = rules
        self.source_codec: Codec = codec_for(rules.source_spec)
        self.target_codec: Codec = codec_for(rules.target_spec)

    def translate_values(self, source: Mapping[str, Any]) -> dict[str, Any]:
        """Run every rule on parsed source values and return the target values."""
        return {rule.target: apply_rule(rule, source) for rule in self.rules.rules}

    def translate(self, frame: bytes, context: BlockContext | None = None) -> bytes:
        """Translate one source frame into one target frame.

        Args:
            frame: The source frame.
            context: The request a Modbus response answers; read by tag maps only (raw rule
                sets ignore it).

        Raises:
            TranslationError: ``FrameParseError``, ``RuleRuntimeError`` or ``FieldValueError``.
        """
        source = self.source_codec.parse(frame)
        if self.rules.tag_map is not None:
            return tag_packets(self.rules, source, context, self.translate_values(source))
        return self.target_codec.build(self.translate_values(source))


def safe_translate(translator: Translator, frame: bytes) -> bytes | TranslationError:
    """``translate`` that returns the error instead of raising (for batch scoring)."""
    try:
        return translator.translate(frame)
    except TranslationError as exc:
        return exc
