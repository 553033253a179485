"""Tag maps: named, typed, scaled values read from Modbus register blocks.

A :class:`Tag` names a range of registers of one table (holding registers, function code 3, or
input registers, 4) and says how to read it: ``type`` (``u16``, ``i16``, ``u32``, ``i32``,
``f32``, ``bool``, ``bits``), ``byte_order`` within a register, ``word_order`` of the two
registers of a 32-bit value, ``scale`` and ``offset`` (engineering value = raw * scale + offset)
and the engineering ``unit``. A :class:`TagMap` in a rule set replaces the payload rules: each
response becomes MQTT messages of named values (see :mod:`engine.translation.tag_publish`).

A Modbus response does not say which register it starts at, so decoding needs the request's
function code and start address: a :class:`BlockContext`, which the ingest stamps on every
response frame as headers (``modbus-function``, ``modbus-address``, ``modbus-count``).
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.translation.spec import ByteLayout, to_layout

TagType = Literal["u16", "i16", "u32", "i32", "f32", "bool", "bits"]
#: Registers (16-bit words) a tag of each type spans.
TAG_REGISTERS: dict[str, int] = {
    "u16": 1,
    "i16": 1,
    "u32": 2,
    "i32": 2,
    "f32": 2,
    "bool": 1,
    "bits": 1,
}
#: Names end up in topics and JSON keys: no ``/``, ``+``, ``#`` or spaces.
TagName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
#: Placeholders a topic template may use (``tag`` only in ``per_tag`` mode).
TOPIC_PLACEHOLDERS = frozenset({"unit", "block", "tag", "function_code", "start"})
DEFAULT_JSON_TOPIC = "cronos/{unit}/{block}"
DEFAULT_TAG_TOPIC = "cronos/{unit}/{block}/{tag}"
_BAD_TOPIC = re.compile(r"[+#\x00]")


@dataclass(frozen=True, slots=True)
class BlockContext:
    """What a response frame does not carry itself: the request it answers.

    Attributes:
        function_code: Function code of the read request (3 or 4).
        start_address: First register address the request asked for.
        count: Registers asked for (``None``: take the response's byte count).
        captured_ns: Unix time in nanoseconds the response was read (``ts`` of the messages).
    """

    function_code: int
    start_address: int
    count: int | None = None
    captured_ns: int | None = None


class Tag(BaseModel):
    """One named value: ``type`` read at register ``address`` of table ``function_code``.

    ``bool`` is one ``bit`` of the register (``None``: the register is not zero); ``bits`` is
    the register's bits, as ``{name: bool}`` when ``bit_names`` is given, else a list of 16
    booleans, least significant bit first. ``scale``/``offset`` apply to numeric types only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: TagName
    function_code: Literal[3, 4] = 3
    address: int = Field(ge=0, le=0xFFFF)
    type: TagType = "u16"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = Field(default=None, max_length=32)
    bit: int | None = Field(default=None, ge=0, le=15)
    bit_names: dict[TagName, Annotated[int, Field(ge=0, le=15)]] | None = None

    @property
    def registers(self) -> int:
        """Registers the tag spans."""
        return TAG_REGISTERS[self.type]

    @property
    def layout(self) -> ByteLayout:
        """ABCD-style code of the byte and word order (see :mod:`engine.translation.scalars`)."""
        return to_layout(self.byte_order, self.word_order)

    @model_validator(mode="after")
    def _check(self) -> Tag:
        if self.address + self.registers - 1 > 0xFFFF:
            raise ValueError(f"tag {self.name!r} runs past register 65535")
        if not math.isfinite(self.scale) or self.scale == 0 or not math.isfinite(self.offset):
            raise ValueError(f"tag {self.name!r}: scale must be finite and non-zero")
        numeric = self.type not in ("bool", "bits")
        if not numeric and (self.scale != 1.0 or self.offset != 0.0):
            raise ValueError(f"tag {self.name!r}: a {self.type} tag takes no scale or offset")
        if self.bit is not None and self.type != "bool":
            raise ValueError(f"tag {self.name!r}: only a bool tag has a bit")
        if self.bit_names is not None and self.type != "bits":
            raise ValueError(f"tag {self.name!r}: only a bits tag has bit names")
        return self


class TagBlock(BaseModel):
    """A name for the polled block that starts at ``start`` of table ``function_code``.

    Unnamed blocks are called ``hr{start}-{end}`` (holding) or ``ir{start}-{end}`` (input).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: TagName
    function_code: Literal[3, 4] = 3
    start: int = Field(ge=0, le=0xFFFF)


class TagOutput(BaseModel):
    """What subscribers get.

    Attributes:
        mode: ``json``: one message per block, ``{"ts", "unit", "block", "tags": {...}}``;
            ``per_tag``: one message per tag, ``{"ts", "unit", "block", "tag", "value"}``.
        topic: Topic template (placeholders ``{unit}``, ``{block}``, ``{function_code}``,
            ``{start}`` and, per tag, ``{tag}``); default ``cronos/{unit}/{block}`` or
            ``cronos/{unit}/{block}/{tag}``.
        timestamp: Put ``ts`` (milliseconds since the Unix epoch, when the response was read)
            in every message.
        units: Put the engineering units in the messages (``uom``), for tags that have one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["json", "per_tag"] = "json"
    topic: str | None = Field(default=None, min_length=1, max_length=1024)
    timestamp: bool = True
    units: bool = True

    @property
    def topic_template(self) -> str:
        """The template in force (the mode's default when none is set)."""
        if self.topic is not None:
            return self.topic
        return DEFAULT_TAG_TOPIC if self.mode == "per_tag" else DEFAULT_JSON_TOPIC

    @model_validator(mode="after")
    def _check_topic(self) -> TagOutput:
        names = []
        for literal, name, spec, conv in string.Formatter().parse(self.topic_template):
            if _BAD_TOPIC.search(literal):
                raise ValueError("a topic template must not hold '+', '#' or NUL")
            if name is None:
                continue
            if name not in TOPIC_PLACEHOLDERS or spec or conv:
                raise ValueError(
                    f"placeholder {{{name}}}: use one of {sorted(TOPIC_PLACEHOLDERS)}, bare"
                )
            names.append(name)
        if self.mode == "json" and "tag" in names:
            raise ValueError("{tag} is a per_tag placeholder; json mode has one message a block")
        if self.mode == "per_tag" and "tag" not in names:
            raise ValueError("a per_tag topic template needs {tag} (one topic per tag)")
        return self


class TagMap(BaseModel):
    """Tags, block names and output format of one device type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tags: list[Tag] = Field(min_length=1, max_length=4096)
    blocks: list[TagBlock] = Field(default_factory=list)
    output: TagOutput = Field(default_factory=TagOutput)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[Tag]) -> list[Tag]:
        names = [t.name for t in tags]
        if len(names) != len(set(names)):
            raise ValueError("tag names must be unique")
        return tags

    @field_validator("blocks")
    @classmethod
    def _unique_blocks(cls, blocks: list[TagBlock]) -> list[TagBlock]:
        keys = [(b.function_code, b.start) for b in blocks]
        if len(keys) != len(set(keys)) or len({b.name for b in blocks}) != len(blocks):
            raise ValueError("block names and (function_code, start) must be unique")
        return blocks

    def block_name(self, function_code: int, start: int, count: int) -> str:
        """The block's own name, else ``hr{start}-{end}`` / ``ir{start}-{end}``."""
        for block in self.blocks:
            if block.function_code == function_code and block.start == start:
                return block.name
        kind = "hr" if function_code == 3 else "ir"
        return f"{kind}{start}" if count == 1 else f"{kind}{start}-{start + count - 1}"
