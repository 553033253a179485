"""Shared specs and capture frames for the translation tests."""

from __future__ import annotations

import pytest

from engine.translation.pcap import modbus_adus
from engine.translation.rules import DecodeRule, TemplateRule, TranslationRules
from engine.translation.spec import FieldType, ProtocolField, ProtocolSpecification
from tests.support.paths import MODBUS_CAPTURE

CAPTURE = MODBUS_CAPTURE


def spec(
    protocol_id: str, protocol_type: str, *fields: tuple[str, FieldType, int | None]
) -> ProtocolSpecification:
    """A specification from ``(name, type, length)`` triples (``None``: open-ended)."""
    return ProtocolSpecification(
        protocol_id=protocol_id,
        protocol_type=protocol_type,
        fields=[ProtocolField(name=n, field_type=t, length=length) for n, t, length in fields],
    )


def modbus_response_spec(protocol_id: str = "modbus") -> ProtocolSpecification:
    return ProtocolSpecification(
        protocol_id=protocol_id,
        protocol_type="modbus",
        framing="modbus_tcp",
        direction="response",
        fields=[],
    )


def mqtt_json_spec() -> ProtocolSpecification:
    return ProtocolSpecification(
        protocol_id="mqtt",
        protocol_type="mqtt",
        framing="mqtt_publish",
        version="3.1.1",
        fields=[
            ProtocolField(name="topic", field_type=FieldType.STRING),
            ProtocolField(name="level", field_type=FieldType.FLOAT, unit="m"),
            ProtocolField(name="alarm", field_type=FieldType.BOOLEAN),
        ],
    )


def hand_rules() -> TranslationRules:
    """Rules an engineer would write for the capture's register-read responses."""
    return TranslationRules(
        source_protocol="modbus",
        target_protocol="mqtt",
        source_spec=modbus_response_spec(),
        target_spec=mqtt_json_spec(),
        rules=[
            TemplateRule(target="topic", template="plant/{unit_id}/ir"),
            DecodeRule(target="level", source="data", offset=2, dtype="u16", scale=0.1),
            DecodeRule(target="alarm", source="data", offset=2, dtype="u16", bit=0),
        ],
    )


@pytest.fixture(scope="session")
def capture_frames() -> list[tuple[bool, bytes]]:
    return list(modbus_adus(CAPTURE))


@pytest.fixture(scope="session")
def register_responses(capture_frames: list[tuple[bool, bytes]]) -> list[bytes]:
    return [adu for is_resp, adu in capture_frames if is_resp and adu[7] in (3, 4)]
