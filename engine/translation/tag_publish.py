"""Tag-mapped translation: a Modbus read response → MQTT PUBLISH packets of named values.

With a :class:`~engine.translation.tags.TagMap` in a rule set, the response's register block is
decoded into tags (:mod:`engine.translation.tag_decode`) and published as JSON:

* mode ``json``: one message per block on ``cronos/{unit}/{block}`` (by default)::

      {"ts": 1733050000123, "unit": 1, "block": "process",
       "tags": {"temperature": 21.5, "running": true}, "uom": {"temperature": "degC"}}

* mode ``per_tag``: one message per tag on ``cronos/{unit}/{block}/{tag}``::

      {"ts": 1733050000123, "unit": 1, "block": "process", "tag": "temperature",
       "value": 21.5, "uom": "degC"}

The translation of one frame is the PUBLISH packets back to back (an MQTT byte stream; one
packet in ``json`` mode); :func:`engine.translation.mqtt.split_packets` takes them apart. The
rule set's ``rules`` may still set the packets' ``qos``/``retain``/``dup``/``packet_id``; topic
and payload come from the tag map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from engine.translation.codecs import codec_for
from engine.translation.errors import RuleRuntimeError, RulesValidationError
from engine.translation.fields import framing_fields
from engine.translation.mqtt import PACKET_FIELDS
from engine.translation.rules import ConstantRule, TranslationRules, rule_sources
from engine.translation.spec import (
    FieldType,
    Framing,
    ProtocolField,
    ProtocolSpecification,
    ProtocolType,
)
from engine.translation.tag_decode import decode_block
from engine.translation.tags import BlockContext, TagMap

#: Target fields the ``rules`` of a tag-mapped set may still write.
FLAG_FIELDS = frozenset({"qos", "retain", "dup", "packet_id"})
MODBUS_RESPONSE = ProtocolSpecification(
    protocol_id="modbus",
    protocol_type=ProtocolType.MODBUS,
    framing=Framing.MODBUS_TCP,
    fields=[],
)
MQTT_RAW = ProtocolSpecification(
    protocol_id="mqtt",
    protocol_type=ProtocolType.MQTT,
    framing=Framing.MQTT_PUBLISH,
    fields=[
        ProtocolField(name="topic", field_type=FieldType.STRING),
        ProtocolField(name="payload", field_type=FieldType.BINARY),
    ],
)


def tag_rule_set(
    tag_map: TagMap, version: str = "1.0.0", *, accuracy: float = 1.0, generator: str = "tag_map"
) -> TranslationRules:
    """A ``modbus`` → ``mqtt`` rule set that publishes ``tag_map``'s tags (QoS 0 in the packet)."""
    return TranslationRules(
        version=version,
        source_protocol="modbus",
        target_protocol="mqtt",
        source_spec=MODBUS_RESPONSE,
        target_spec=MQTT_RAW,
        rules=[ConstantRule(target="qos", value=0)],
        tag_map=tag_map,
        accuracy=accuracy,
        generator=generator,
    )


def check_tag_rules(rules: TranslationRules) -> None:
    """Static checks of a tag-mapped rule set (called by ``check_rule_set``).

    Raises:
        RulesValidationError: Not Modbus/TCP responses → raw-payload MQTT, or a rule that writes
            the topic or payload the tag map owns.
    """
    src, dst = rules.source_spec, rules.target_spec
    if src.framing is not Framing.MODBUS_TCP or src.direction != "response":
        raise RulesValidationError("a tag map reads Modbus/TCP responses (source framing)")
    if dst.framing is not Framing.MQTT_PUBLISH or any(
        f.name not in PACKET_FIELDS for f in dst.fields
    ):
        raise RulesValidationError("a tag map writes MQTT PUBLISH packets with a raw payload")
    sources = framing_fields(src)
    for rule in rules.rules:
        if rule.target not in FLAG_FIELDS:
            raise RulesValidationError(
                f"with a tag map, rules may only set {sorted(FLAG_FIELDS)}, not {rule.target!r}"
            )
        for name in rule_sources(rule):
            if name not in sources:
                raise RulesValidationError(
                    f"rule for {rule.target!r} reads unknown source field {name!r}"
                )


def _context(source: Mapping[str, Any], context: BlockContext | None) -> tuple[int, int, int]:
    fc = source.get("function_code")
    if fc not in (3, 4):
        raise RuleRuntimeError(
            f"tag map: function code {fc!r} is not a register read (3 or 4)",
            field="function_code",
            reason="not_a_register_read",
        )
    if context is None:
        raise RuleRuntimeError(
            "tag map: the frame carries no block context (the request's function code and start "
            "address: headers modbus-function and modbus-address, stamped by the ingest)",
            field="start_address",
            reason="missing_context",
        )
    count = len(source.get("data") or b"") // 2
    if context.function_code != fc or (context.count is not None and context.count != count):
        raise RuleRuntimeError(
            f"tag map: the response (function code {fc}, {count} registers) does not answer "
            f"the request in its headers ({context.function_code}, {context.count})",
            field="start_address",
            reason="context_mismatch",
        )
    return fc, context.start_address, count


def tag_messages(
    tag_map: TagMap, source: Mapping[str, Any], context: BlockContext | None
) -> list[tuple[str, bytes]]:
    """``(topic, JSON payload)`` of every message one parsed response becomes.

    Raises:
        RuleRuntimeError: No or mismatching context, not a register read, or no tag in the block.
    """
    fc, start, count = _context(source, context)
    values = decode_block(tag_map, fc, start, source.get("data") or b"")
    if not values:
        raise RuleRuntimeError(
            f"tag map: no tag lies in block fc {fc} registers {start}..{start + count - 1}",
            field="tags",
            reason="no_tags_in_block",
        )
    out = tag_map.output
    block = tag_map.block_name(fc, start, count)
    place = {"unit": source.get("unit_id"), "block": block, "function_code": fc, "start": start}
    head: dict[str, Any] = {}
    if out.timestamp and context is not None and context.captured_ns is not None:
        head["ts"] = context.captured_ns // 1_000_000
    head |= {"unit": source.get("unit_id"), "block": block}
    units = {t.name: t.unit for t in tag_map.tags if t.unit and t.name in values}
    template = out.topic_template
    if out.mode == "json":
        doc = head | {"tags": values}
        if out.units and units:
            doc["uom"] = units
        return [(template.format_map(place), orjson.dumps(doc))]
    messages = []
    for name, value in values.items():
        doc = head | {"tag": name, "value": value}
        if out.units and name in units:
            doc["uom"] = units[name]
        messages.append((template.format_map(place | {"tag": name}), orjson.dumps(doc)))
    return messages


def tag_packets(
    rules: TranslationRules,
    source: Mapping[str, Any],
    context: BlockContext | None,
    flags: Mapping[str, Any],
) -> bytes:
    """The PUBLISH packets (back to back) of one response under a tag-mapped rule set.

    Args:
        rules: The rule set (its ``tag_map`` must be set).
        source: The parsed response.
        context: The request the response answers.
        flags: ``qos``/``retain``/``dup``/``packet_id`` computed by the set's rules.

    Raises:
        TranslationError: ``RuleRuntimeError`` (see :func:`tag_messages`) or
            ``FieldValueError`` for a topic or flag the packet cannot carry.
    """
    assert rules.tag_map is not None
    codec = codec_for(rules.target_spec)
    return b"".join(
        codec.build(dict(flags) | {"topic": topic, "payload": payload})
        for topic, payload in tag_messages(rules.tag_map, source, context)
    )
