"""Property-based hostile input: arbitrary bytes raise only our typed errors, never anything else.

Each codec of ``engine.translation`` (Modbus/TCP, MQTT PUBLISH, fixed layouts), the Modbus →
MQTT translation the worker runs, the detector's input checks and batch call, the control
command verifier and the dataset's frame coercion get arbitrary bytes (and arbitrary
JSON-shaped values where they take objects). The only acceptable failures are ``EngineError``
or ``StreamsError`` subclasses. ``CRONOS_RELIABILITY_SCALE=full`` raises the example count.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.config import Config, DetectorSettings
from engine.detection.dataset import coerce_frame
from engine.detection.field_detector import FieldDetector
from engine.errors import EngineError
from engine.translation.codecs import codec_for
from engine.translation.spec import (
    FieldType,
    Framing,
    ProtocolField,
    ProtocolSpecification,
    ProtocolType,
)
from streams.control.command import compute_signature, verify
from streams.edge.default_rules import modbus_to_mqtt_rules
from streams.errors import StreamsError
from streams.worker.translator import LoadedRules, UntranslatableError, translate
from tests.reliability.harness import current_scale

pytestmark = pytest.mark.reliability

KEY = b"fuzz-key-0123456789abcdef0123456789"
EXAMPLES = current_scale().hypothesis_examples
SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=SLOW_OK)
TYPED = (EngineError, StreamsError)

MODBUS = ProtocolSpecification(
    protocol_id="modbus",
    protocol_type=ProtocolType.MODBUS,
    framing=Framing.MODBUS_TCP,
    direction="response",
    fields=[],
)
MQTT = ProtocolSpecification(
    protocol_id="mqtt",
    protocol_type=ProtocolType.MQTT,
    framing=Framing.MQTT_PUBLISH,
    version="3.1.1",
    fields=[
        ProtocolField(name="topic", field_type=FieldType.STRING),
        ProtocolField(name="level", field_type=FieldType.FLOAT),
        ProtocolField(name="alarm", field_type=FieldType.BOOLEAN),
    ],
)
LAYOUT = ProtocolSpecification(
    protocol_id="dev",
    protocol_type=ProtocolType.CUSTOM,
    fields=[
        ProtocolField(
            name="kind", field_type=FieldType.ENUM, length=1, enum_values={"a": 1, "b": 7}
        ),
        ProtocolField(name="count", field_type=FieldType.INTEGER, length=2, signed=True),
        ProtocolField(name="temp", field_type=FieldType.FLOAT, length=4),
        ProtocolField(name="ok", field_type=FieldType.BOOLEAN, length=1),
        ProtocolField(name="name", field_type=FieldType.STRING, length=8),
        ProtocolField(name="blob", field_type=FieldType.BINARY),
    ],
)

# Real-looking prefixes make the fuzzer reach past the first length check.
MBAP = b"\x00\x01\x00\x00\x00\x07\x01\x03\x04\x00\x0a\x00\x0b"
frames = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=64).map(lambda tail: MBAP[: len(tail) % 14] + tail),
    st.binary(max_size=64).map(lambda tail: b"\x30" + bytes([len(tail) % 256]) + tail),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("spec", [MODBUS, MQTT, LAYOUT], ids=["modbus", "mqtt", "layout"])
@FUZZ
@given(data=frames)
def test_codec_parse_raises_only_typed_errors(spec: ProtocolSpecification, data: bytes) -> None:
    codec = codec_for(spec)
    try:
        values = codec.parse(data)
    except TYPED:
        return
    # What parses must build back to the same bytes (the codec law), or refuse in kind.
    with contextlib.suppress(*TYPED):
        assert codec.build(values) == data


@pytest.mark.parametrize("spec", [MODBUS, MQTT, LAYOUT], ids=["modbus", "mqtt", "layout"])
@FUZZ
@given(
    values=st.dictionaries(
        st.sampled_from(
            [
                "transaction_id",
                "unit_id",
                "function_code",
                "data",
                "topic",
                "level",
                "alarm",
                "kind",
                "count",
                "temp",
                "ok",
                "name",
                "blob",
                "qos",
            ]
        ),
        json_values | st.binary(max_size=20),
        max_size=8,
    )
)
def test_codec_build_raises_only_typed_errors(
    spec: ProtocolSpecification, values: dict[str, Any]
) -> None:
    with contextlib.suppress(*TYPED):
        codec_for(spec).build(values)


_RULES: list[LoadedRules] = []


def _rules() -> LoadedRules:
    if not _RULES:
        from engine.llm.translation_studio import ProtocolTranslationStudio

        rules = modbus_to_mqtt_rules()
        studio = ProtocolTranslationStudio()
        studio.activate_rules(rules)
        _RULES.append(LoadedRules("modbus->mqtt", rules.version, rules, studio))
    return _RULES[0]


@FUZZ
@given(data=frames)
def test_translation_refuses_with_untranslatable(data: bytes) -> None:
    try:
        translate(_rules(), data)
    except UntranslatableError as exc:
        assert exc.reason


@pytest.fixture(scope="module")
def detector(artifact_root: Path) -> FieldDetector:
    det = FieldDetector(Config(detector=DetectorSettings(max_message_bytes=512)))
    asyncio.run(
        det.load_checkpoint(artifact_root / "field_detector/field_detector_v1.0.0_latest.pt")
    )
    return det


@FUZZ
@given(message=st.one_of(st.binary(max_size=700), json_values))
def test_detector_input_checks(detector: FieldDetector, message: Any) -> None:
    try:
        checked = detector.check_message(message)
    except TYPED:
        return
    [fields] = detector.detect_boundaries_batch([checked])
    assert fields[0].start_pos == 0 and fields[-1].end_pos == len(checked)


@settings(max_examples=max(20, EXAMPLES // 10), deadline=None)
@given(batch=st.lists(st.binary(max_size=600), max_size=6))
def test_detector_batch_refuses_in_kind(detector: FieldDetector, batch: list[bytes]) -> None:
    try:
        out = detector.detect_boundaries_batch(batch)
    except TYPED:
        return
    assert len(out) == len(batch)


NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@FUZZ
@given(raw=st.binary(max_size=400))
def test_verify_bytes_raise_only_rejections(raw: bytes) -> None:
    with pytest.raises(StreamsError):
        verify(raw, KEY, now=NOW)


@FUZZ
@given(
    doc=st.dictionaries(
        st.sampled_from(["id", "issued_at", "issuer", "action", "component", "target", "extra"]),
        json_values,
        max_size=7,
    )
)
def test_verify_signed_garbage_raises_only_rejections(doc: dict[str, Any]) -> None:
    # Correctly signed, so verification reaches the schema and freshness checks.
    raw = orjson.dumps(doc | {"signature": compute_signature(doc, KEY)})
    with pytest.raises(StreamsError):
        verify(raw, KEY, now=NOW)


@FUZZ
@given(
    item=st.one_of(
        json_values,
        st.tuples(st.binary(max_size=40), json_values),
        st.fixed_dictionaries({"frame_hex": st.text(max_size=20), "fields": json_values}),
    )
)
def test_coerce_frame_raises_only_dataset_errors(item: Any) -> None:
    with contextlib.suppress(*TYPED):
        coerce_frame(item, max_bytes=64)
