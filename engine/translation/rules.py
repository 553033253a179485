"""Rule schema: what a translation rule set is, as JSON-serialisable pydantic models.

A rule computes one target field from the parsed source values. Kinds, simplest first:
``copy``, ``constant``, ``linear`` (value * scale + offset), ``bit`` (one bit of an integer),
``map`` (enum/value table), ``decode`` (a number read from a bytes field: dtype × ABCD layout ×
scale/offset, optionally one bit of it) and ``template`` (a string such as
``plant/{unit_id}/hr/{address}``). Running rules lives in :mod:`engine.translation.evaluate`.

A rule set may instead carry a ``tag_map`` (:mod:`engine.translation.tags`): Modbus register
blocks become MQTT messages of named, typed, scaled values; its rules then only set the packets'
flags (:mod:`engine.translation.tag_publish`). Without one (raw mode) nothing changes.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from engine.translation.scalars import DTYPES
from engine.translation.spec import ProtocolSpecification
from engine.translation.tags import TagMap

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


def decode_value(value: Any) -> Any:
    """JSON → Python value: ``{"hex": "00ff"}`` becomes bytes; other JSON scalars pass."""
    if isinstance(value, dict):
        if set(value) == {"hex"} and isinstance(value["hex"], str):
            return bytes.fromhex(value["hex"])
        raise ValueError(f"a value object must be {{'hex': str}}, got keys {sorted(value)}")
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    raise ValueError(f"unsupported value type {type(value).__name__}")


def encode_value(value: Any) -> Any:
    """Python value → JSON: bytes become ``{"hex": ...}``; lists recurse."""
    if isinstance(value, bytes | bytearray):
        return {"hex": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    return value


#: A field value that survives JSON (bytes tagged as hex).
Value = Annotated[Any, BeforeValidator(decode_value), PlainSerializer(encode_value)]
FieldName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    target: FieldName


class CopyRule(_Rule):
    """target = source."""

    kind: Literal["copy"] = "copy"
    source: FieldName


class ConstantRule(_Rule):
    """target = value."""

    kind: Literal["constant"] = "constant"
    value: Value


class LinearRule(_Rule):
    """target = source * scale + offset (``integer``: result must be whole and becomes an int)."""

    kind: Literal["linear"] = "linear"
    source: FieldName
    scale: float
    offset: float = 0.0
    integer: bool = False


class BitRule(_Rule):
    """target = bool((source >> bit) & 1)."""

    kind: Literal["bit"] = "bit"
    source: FieldName
    bit: int = Field(ge=0, le=63)


class MapRule(_Rule):
    """target = mapping[source]; an unmapped source value is a run-time error."""

    kind: Literal["map"] = "map"
    source: FieldName
    mapping: list[tuple[Value, Value]] = Field(min_length=1)


class DecodeRule(_Rule):
    """target = number read from bytes field ``source`` at ``offset`` (× scale + value_offset)."""

    kind: Literal["decode"] = "decode"
    source: FieldName
    offset: int = Field(ge=0)
    dtype: str
    layout: Literal["ABCD", "DCBA", "BADC", "CDAB"] = "ABCD"
    scale: float = 1.0
    value_offset: float = 0.0
    bit: int | None = Field(default=None, ge=0, le=63)

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}")
        return value


class TemplateRule(_Rule):
    """target = template with ``{field}`` placeholders filled from source values."""

    kind: Literal["template"] = "template"
    template: str = Field(max_length=1024)

    @field_validator("template")
    @classmethod
    def _plain_placeholders(cls, value: str) -> str:
        # Only bare names: attribute/index access in a format string could reach into objects.
        for _, name, spec, conv in string.Formatter().parse(value):
            if name is None:
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or spec or conv:
                raise ValueError(f"placeholder {{{name}}} must be a bare field name")
        return value

    @property
    def sources(self) -> list[str]:
        """Field names the template reads."""
        return [n for _, n, _, _ in string.Formatter().parse(self.template) if n]


Rule = Annotated[
    CopyRule | ConstantRule | LinearRule | BitRule | MapRule | DecodeRule | TemplateRule,
    Field(discriminator="kind"),
]

#: Rank used to pick the simplest of several rules that fit the same examples.
COMPLEXITY = {
    "copy": 0,
    "constant": 1,
    "linear": 2,
    "bit": 3,
    "decode": 4,
    "template": 5,
    "map": 6,
}


def rule_sources(rule: Any) -> list[str]:
    """Source fields a rule reads."""
    if isinstance(rule, TemplateRule):
        return rule.sources
    source = getattr(rule, "source", None)
    return [source] if source else []


class TestCase(BaseModel):
    """One example: source values and the target values they must translate to."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: dict[str, Value]
    expected_target: dict[str, Value]


class TranslationRules(BaseModel):
    """A versioned rule set for one protocol pair, with the test cases it was measured on.

    Attributes:
        version: Semantic version.
        source_protocol: ``source_spec.protocol_id``.
        target_protocol: ``target_spec.protocol_id``.
        source_spec: Specification frames are parsed with.
        target_spec: Specification frames are built with.
        rules: One rule per target field.
        accuracy: Share of ``test_cases`` translated exactly (0..1).
        test_cases: Examples the accuracy was measured on.
        ambiguities: Fields for which several rules fitted the examples, with the alternatives.
        generator: What produced the set (``deterministic``, ``learned``, ``llm``, ``optimized``,
            ``tag_map``).
        created_at: ISO-8601 UTC time of creation.
        tag_map: Named values to publish instead of the payload rules (``None``: raw mode).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "1.0.0"
    source_protocol: str
    target_protocol: str
    source_spec: ProtocolSpecification
    target_spec: ProtocolSpecification
    rules: list[Rule]
    accuracy: float = Field(default=0.0, ge=0.0, le=1.0)
    test_cases: list[TestCase] = Field(default_factory=list)
    ambiguities: list[str] = Field(default_factory=list)
    generator: str = "deterministic"
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    tag_map: TagMap | None = None

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        if not SEMVER.fullmatch(value):
            raise ValueError(f"version {value!r} is not MAJOR.MINOR.PATCH")
        return value

    @property
    def pair(self) -> tuple[str, str]:
        """``(source_protocol, target_protocol)``."""
        return self.source_protocol, self.target_protocol
