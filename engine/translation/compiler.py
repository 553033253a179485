"""Compile a rule set into one specialised Python function.

The generated function inlines the Modbus/TCP register-read response framing (one precompiled
``struct`` for the MBAP header + function code + byte count), reads every decoded number with a
precompiled ``struct.Struct``, folds constants (MQTT header byte, constant topics, literal template
parts) and drops identity transforms. Anything it is not sure about — another function code, a
short frame, a value that may not fit its target field — is handed to the interpreted
:class:`~engine.translation.evaluate.Translator`, so outputs and errors are identical to the
unoptimised rules by construction; :func:`verify` checks that on test frames as well.

Security: generated code never contains data from the rule set. Field names, templates and
constants are passed in as indexed constants (``K[3]``), so a hostile rules file cannot inject
code; only our own identifiers and numbers appear in the source text.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from engine.errors import EngineError, TranslationError
from engine.translation.evaluate import Translator
from engine.translation.mqtt import MqttPublishCodec, encode_remaining_length
from engine.translation.rules import (
    BitRule,
    ConstantRule,
    CopyRule,
    DecodeRule,
    LinearRule,
    MapRule,
    TemplateRule,
    TranslationRules,
)
from engine.translation.scalars import DTYPES, permutation
from engine.translation.spec import FieldType, Framing
from engine.translation.tags import BlockContext

_MBAP_FC_BC = struct.Struct(">HHHBBB")  # tid, protocol id, length, unit, function code, bytes
_F32_MAX = 3.4028234663852886e38
_MISS = object()


class TranslateFn(Protocol):
    """``translate(frame, context=None)``, as :meth:`Translator.translate`."""

    def __call__(self, frame: bytes, context: BlockContext | None = None) -> bytes: ...


@dataclass
class CompiledTranslation:
    """A rule set compiled for speed; ``translate`` behaves exactly like the interpreter."""

    rules: TranslationRules
    translate: TranslateFn
    optimizations: list[str] = field(default_factory=list)
    source_code: str = ""


def simplify(rules: TranslationRules) -> tuple[TranslationRules, int]:
    """Replace identity transforms by plain copies; return the new set and how many changed."""
    out: list[Any] = []
    dropped = 0
    for rule in rules.rules:
        if isinstance(rule, LinearRule) and rule.scale == 1.0 and rule.offset == 0.0:
            out.append(CopyRule(target=rule.target, source=rule.source))
            dropped += 1
        else:
            out.append(rule)
    return rules.model_copy(update={"rules": out}), dropped


def compile_rules(rules: TranslationRules) -> CompiledTranslation:
    """Compile ``rules``; falls back to the interpreter where no fast path applies."""
    translator = Translator(rules)
    if rules.tag_map is not None:
        return CompiledTranslation(rules, translator.translate, ["interpreted (tag map)"])
    rules, dropped = simplify(rules)
    builder = _Builder(rules, translator)
    try:
        fn, notes = builder.build()
    except _NoFastPath:
        return CompiledTranslation(rules, translator.translate, ["interpreted (no fast path)"])
    if dropped:
        notes.append(f"dropped identity transforms: {dropped}")
    return CompiledTranslation(rules, fn, notes, builder.source)


def verify(compiled: CompiledTranslation, frames: list[bytes]) -> list[int]:
    """Indices of frames where the compiled and interpreted translations differ."""
    reference = Translator(compiled.rules)
    differ = []
    for i, frame in enumerate(frames):
        if _outcome(reference.translate, frame) != _outcome(compiled.translate, frame):
            differ.append(i)
    return differ


def _outcome(fn: TranslateFn, frame: bytes) -> Any:
    try:
        return fn(frame)
    except TranslationError as exc:
        return (type(exc).__name__, exc.field, exc.reason)


def _literal(value: object) -> str:
    """A number as source text; anything else (or nan/inf) keeps the rule on the slow path.

    Numbers are the only rule data that appear in the generated source: the schema already
    types them, and this makes the guarantee local to the code generator.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _NoFastPath
    return repr(float(value))


class _NoFastPath(EngineError):
    """Internal signal: this rule set keeps the interpreter (never escapes ``compile_rules``)."""


class _Builder:
    """Writes the source of the specialised function (see module docstring)."""

    def __init__(self, rules: TranslationRules, translator: Translator) -> None:
        self.rules = rules
        self.ns: dict[str, Any] = {
            "slow": translator.translate,
            "_HDR": _MBAP_FC_BC.unpack_from,
            "_dumps": orjson.dumps,
            "_varint": encode_remaining_length,
            "_MISS": _MISS,
        }
        self.consts: list[Any] = []
        self.lines: list[str] = []
        self.source = ""
        self.structs = 0
        self.folded = 0

    def const(self, value: Any) -> str:
        self.consts.append(value)
        return f"K[{len(self.consts) - 1}]"

    def build(self) -> tuple[TranslateFn, list[str]]:
        src, dst = self.rules.source_spec, self.rules.target_spec
        if src.framing is not Framing.MODBUS_TCP or src.direction != "response":
            raise _NoFastPath
        if dst.framing is not Framing.MQTT_PUBLISH:
            raise _NoFastPath
        typed = {f.name: f for f in src.fields if f.offset is not None}
        need_len = max([(f.offset or 0) + DTYPES[_dtype(f)][1] for f in typed.values()] + [0])
        emit = self.lines.append
        # ``context`` only matters to tag maps, which never take this path.
        emit("def fast(frame, context=None):")
        emit("    n = len(frame)")
        emit("    if n < 9: return slow(frame)")
        emit("    tid, pid, length, unit, fc, bc = _HDR(frame, 0)")
        # Register reads only (FC 3/4) with a consistent MBAP length and byte count.
        emit("    if pid or length != n - 6 or (fc != 3 and fc != 4) or bc != n - 9 or bc & 1:")
        emit("        return slow(frame)")
        emit("    if bc == 0 or bc > 250: return slow(frame)")
        emit("    data = frame[9:]")
        if need_len:
            emit(f"    if bc < {need_len}: return slow(frame)")
        self.sources = {
            "transaction_id": "tid",
            "unit_id": "unit",
            "function_code": "fc",
            "data": "data",
            "byte_count": "bc",
        }
        for name, spec_field in typed.items():
            if spec_field.field_type not in (FieldType.INTEGER, FieldType.FLOAT):
                raise _NoFastPath
            var = f"t{len(self.sources)}"
            raw = self._read(_dtype(spec_field), spec_field.layout, spec_field.offset or 0)
            emit(f"    {var} = {self._scale(raw, spec_field.scale, spec_field.value_offset)}")
            self.sources[name] = var
        values: dict[str, str] = {}
        for i, rule in enumerate(self.rules.rules):
            var = f"v{i}"
            emit(f"    {var} = {self._expr(rule)}")
            if isinstance(rule, MapRule):
                emit(f"    if {var} is _MISS: return slow(frame)")
            values[rule.target] = var
        self._emit_mqtt(values)
        self.source = "\n".join(self.lines) + "\n"
        self.ns["K"] = tuple(self.consts)
        code = compile(self.source, f"<compiled rules {self.rules.source_protocol}>", "exec")
        exec(code, self.ns)  # source holds only our identifiers (see docstring)
        notes = [
            "compiled rule set into one specialised function",
            "inlined Modbus/TCP register-read framing",
            "inlined MQTT PUBLISH framing",
        ]
        if self.structs:
            notes.append(f"precompiled struct formats: {self.structs}")
        if self.folded:
            notes.append(f"constant folding: {self.folded}")
        return self.ns["fast"], notes

    def _read(self, dtype: str, layout: str, offset: int) -> str:
        fmt, width = DTYPES[dtype]
        self.structs += 1
        if layout in ("ABCD", "DCBA") or width == 1:
            order = "<" if layout == "DCBA" and width > 1 else ">"
            s = self.const(struct.Struct(order + fmt).unpack_from)
            return f"{s}(data, {offset})[0]"
        s = self.const(struct.Struct(">" + fmt).unpack)
        picks = ", ".join(f"data[{offset + p}]" for p in permutation(width, layout))
        return f"{s}(bytes(({picks},)))[0]"

    @staticmethod
    def _scale(expr: str, scale: float, offset: float) -> str:
        if scale == 1.0 and offset == 0.0:
            return expr
        return f"({expr} * {_literal(scale)} + {_literal(offset)})"

    def _src(self, name: str) -> str:
        if name not in self.sources:
            raise _NoFastPath  # a field only the full pymodbus decode provides
        return self.sources[name]

    def _expr(self, rule: Any) -> str:
        if isinstance(rule, CopyRule):
            return self._src(rule.source)
        if isinstance(rule, ConstantRule):
            self.folded += 1
            return self.const(rule.value)
        if isinstance(rule, LinearRule):
            if rule.source == "data":
                raise _NoFastPath
            expr = f"({self._src(rule.source)} * {_literal(rule.scale)} + {_literal(rule.offset)})"
            if rule.integer:
                raise _NoFastPath  # whole-number check lives in the interpreter
            return expr
        if isinstance(rule, BitRule):
            if rule.source == "data":
                raise _NoFastPath
            return f"bool(({self._src(rule.source)} >> {rule.bit}) & 1)"
        if isinstance(rule, DecodeRule):
            if self._src(rule.source) != "data":
                raise _NoFastPath
            width = DTYPES[rule.dtype][1]
            self.lines.append(f"    if bc < {rule.offset + width}: return slow(frame)")
            raw = self._read(rule.dtype, rule.layout, rule.offset)
            if rule.bit is not None:
                return f"bool((int({raw}) >> {rule.bit}) & 1)"
            return self._scale(raw, rule.scale, rule.value_offset)
        if isinstance(rule, MapRule):
            table = {(type(k), k): v for k, v in rule.mapping}
            src = self._src(rule.source)
            return f"{self.const(table)}.get((type({src}), {src}), _MISS)"
        if isinstance(rule, TemplateRule):
            import string

            parts = []
            for literal, name, _, _ in string.Formatter().parse(rule.template):
                if literal:
                    parts.append(self.const(literal))
                if name:
                    src = self._src(name)
                    parts.append(f"{src}.hex()" if src == "data" else f"str({src})")
            self.folded += 1
            return " + ".join(parts) if parts else self.const("")
        raise _NoFastPath

    def _emit_mqtt(self, values: dict[str, str]) -> None:
        codec = MqttPublishCodec(self.rules.target_spec)
        emit = self.lines.append
        flags = {"qos": 0, "retain": False, "dup": False}
        for rule in self.rules.rules:
            if rule.target in ("qos", "retain", "dup", "packet_id"):
                # Only constant QoS 0 headers fold; per-frame header fields take the slow path.
                if not isinstance(rule, ConstantRule) or rule.target == "packet_id":
                    raise _NoFastPath
                flags[rule.target] = rule.value
        if flags["qos"] != 0 or type(flags["retain"]) is not bool or type(flags["dup"]) is not bool:
            raise _NoFastPath
        first = 0x30 | (8 if flags["dup"] else 0) | (1 if flags["retain"] else 0)
        self.folded += 1
        # Header byte + one-byte remaining length, precomputed for packets under 128 bytes.
        short = self.const(tuple(bytes([first, n]) for n in range(128)))
        header = self.const(bytes([first]))
        topic = values["topic"]
        emit(f"    if type({topic}) is not str or not {topic}: return slow(frame)")
        emit(f"    if '+' in {topic} or '#' in {topic} or '\\x00' in {topic}: return slow(frame)")
        emit(f"    tb = {topic}.encode()")
        emit("    if len(tb) > 65535: return slow(frame)")
        if codec.json_fields:
            items = []
            for spec_field in codec.json_fields:
                var = values.get(spec_field.name)
                if var is None:
                    if spec_field.required:
                        raise _NoFastPath
                    continue
                items.append(f"{self.const(spec_field.name)}: {self._json_value(spec_field, var)}")
            emit(f"    payload = _dumps({{{', '.join(items)}}})")
        else:
            var = values["payload"]
            emit(f"    if type({var}) is not bytes: return slow(frame)")
            emit(f"    payload = {var}")
        emit("    rem = 2 + len(tb) + len(payload)")
        emit("    if rem > 268435455: return slow(frame)")
        emit(f"    head = {short}[rem] if rem < 128 else {header} + _varint(rem)")
        emit("    return head + len(tb).to_bytes(2, 'big') + tb + payload")

    def _json_value(self, spec_field: Any, var: str) -> str:
        emit = self.lines.append
        ftype = spec_field.field_type
        if ftype is FieldType.FLOAT:
            emit(f"    if type({var}) is not float and type({var}) is not int: return slow(frame)")
            emit(f"    {var} = float({var})")
            if (spec_field.length or 4) == 4:
                emit(f"    if not -{_F32_MAX!r} <= {var} <= {_F32_MAX!r}: return slow(frame)")
            else:
                emit(f"    if {var} != {var} or {var} in (_INF, -_INF): return slow(frame)")
                self.ns["_INF"] = float("inf")
            return var
        plain = spec_field.scale == 1.0 and spec_field.value_offset == 0.0
        if ftype is FieldType.INTEGER and spec_field.length is None and plain:
            emit(f"    if type({var}) is not int: return slow(frame)")
            return var
        if ftype is FieldType.BOOLEAN:
            emit(f"    if type({var}) is not bool: return slow(frame)")
            return var
        if ftype is FieldType.STRING and spec_field.length is None:
            emit(f"    if type({var}) is not str or len({var}) > 16383: return slow(frame)")
            return var
        raise _NoFastPath


def _dtype(spec_field: Any) -> str:
    from engine.translation.scalars import field_dtype

    return field_dtype(spec_field)
