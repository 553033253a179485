"""Learning rules from example pairs by exhaustive search over a small hypothesis space.

For every target field the learner lists the rules that reproduce it on *all* examples, simplest
first (:data:`~engine.translation.rules.COMPLEXITY`): copy, constant, linear scale/offset, bit
extraction, numbers decoded from a bytes field (dtype × ABCD/DCBA/BADC/CDAB × offset ×
scale/offset), string templates such as ``plant/{unit_id}/hr/{address}``, and value maps. The
simplest survivor is kept; if others also fit, the field is reported as ambiguous.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import TranslationError
from engine.translation.codecs import codec_for
from engine.translation.evaluate import _text, apply_rule
from engine.translation.fields import framing_fields
from engine.translation.generator import name_score, propose_rules
from engine.translation.rules import (
    COMPLEXITY,
    BitRule,
    ConstantRule,
    CopyRule,
    DecodeRule,
    LinearRule,
    MapRule,
    TemplateRule,
)
from engine.translation.scalars import DTYPES, LAYOUTS, permutation, read_scalar
from engine.translation.spec import FieldType, ProtocolSpecification
from engine.translation.validation import as_pair, values_equal

#: Scales tried when fewer than two distinct inputs pin one down, and snapped to when close.
NICE_SCALES = (1.0, 0.1, 0.01, 0.001, 10.0, 100.0, 1000.0, 0.5, 2.0, 0.25, 4.0, 0.2, 5.0)
_DTYPE_ORDER = ("u16", "i16", "u32", "i32", "f32", "u8", "i8", "u64", "i64", "f64")
_MAX_TEMPLATES = 4096
_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+|[^0-9A-Za-z]+")


@dataclass
class LearnResult:
    """Rules chosen per target field and the fields where more than one rule fitted."""

    rules: list[Any]
    ambiguities: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


def normalise(
    examples: Sequence[Any], source: ProtocolSpecification, target: ProtocolSpecification
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Turn examples (dicts or frames) into ``(source values, target values)`` pairs.

    Raises:
        TranslationError: An example frame does not parse under its specification.
    """
    out = []
    for example in examples:
        src, dst = as_pair(example)
        if isinstance(src, bytes | bytearray):
            src = codec_for(source).parse(bytes(src))
        if isinstance(dst, bytes | bytearray):
            dst = codec_for(target).parse(bytes(dst))
        out.append((dict(src), dict(dst)))
    return out


def learn(
    examples: Sequence[Any], source: ProtocolSpecification, target: ProtocolSpecification
) -> LearnResult:
    """Learn one rule per target field from examples.

    Target fields no example mentions keep the generator's proposal (or are left out).
    """
    pairs = normalise(examples, source, target)
    targets = framing_fields(target)
    names = [n for n in targets if any(dst.get(n) is not None for _, dst in pairs)]
    result = LearnResult(rules=[])
    fallback = {r.target: r for r in propose_rules(source, target)}
    found_by_name = {
        name: candidates(
            name,
            targets[name].field_type,
            [(s, d[name]) for s, d in pairs if d.get(name) is not None],
        )
        for name in names
    }
    # Locality prior: a flag bit most likely sits in a word another field already decodes.
    words = {
        (r.source, r.offset)
        for found in found_by_name.values()
        if found and isinstance(found[0], DecodeRule) and found[0].bit is None
        for r in found[:1]
    }
    for found in found_by_name.values():
        found.sort(
            key=lambda r: (
                r.kind not in ("copy", "constant"),
                not (isinstance(r, DecodeRule) and (r.source, r.offset) in words),
            )
        )
    for name in targets:
        if name not in names:
            if name in fallback and targets[name].required:
                result.rules.append(fallback[name])
            continue
        found = found_by_name[name]
        if not found:
            result.unresolved.append(name)
            if name in fallback:
                result.rules.append(fallback[name])
            continue
        result.rules.append(found[0])
        if len(found) > 1:
            others = ", ".join(describe(r) for r in found[1:4])
            more = f" (+{len(found) - 4} more)" if len(found) > 4 else ""
            result.ambiguities.append(
                f"{name}: kept {describe(found[0])}; also fit: {others}{more}"
            )
    return result


def describe(rule: Any) -> str:
    """Short human form of a rule for ambiguity reports."""
    data = rule.model_dump(exclude={"target", "kind"}, mode="json")
    return f"{rule.kind}({', '.join(f'{k}={v}' for k, v in data.items())})"


def candidates(target: str, ttype: FieldType, pairs: list[tuple[dict[str, Any], Any]]) -> list[Any]:
    """Every rule (from the search space) that maps each source to its target value."""
    found: list[Any] = []
    seen: set[str] = set()
    for rule in _generate(target, ttype, pairs):
        key = rule.model_dump_json()
        if key in seen or not _fits(rule, pairs):
            continue
        seen.add(key)
        found.append(rule)
    if not found:
        found = [r for r in _maps(target, _common_names(pairs, target), pairs) if _fits(r, pairs)]
    # Stable sort: generation order (strong copies, constant, weak copies …) breaks ties.
    rank = {"copy": 0, "constant": 0}
    found.sort(key=lambda r: rank.get(r.kind, COMPLEXITY[r.kind]))
    return found


def _fits(rule: Any, pairs: list[tuple[dict[str, Any], Any]]) -> bool:
    for src, want in pairs:
        try:
            got = apply_rule(rule, src)
        except TranslationError:
            return False
        if type(got) is bool or type(want) is bool:
            if type(got) is not type(want):
                return False
        elif isinstance(want, bytes | bytearray) != isinstance(got, bytes | bytearray):
            return False
        if not values_equal(got, want):
            return False
    return True


def _generate(
    target: str, ttype: FieldType, pairs: list[tuple[dict[str, Any], Any]]
) -> Iterator[Any]:
    wants = [w for _, w in pairs]
    names = _common_names(pairs, target)
    # A copy from a column that never changes is a coincidence unless the names agree, so
    # those copies rank after the constant.
    strong = [
        n for n in names if name_score(n, target) >= 0.5 or len({repr(s[n]) for s, _ in pairs}) > 1
    ]
    for name in strong:
        yield CopyRule(target=target, source=name)
    if all(values_equal(w, wants[0]) and type(w) is type(wants[0]) for w in wants):
        yield ConstantRule(target=target, value=wants[0])
    for name in names:
        if name not in strong:
            yield CopyRule(target=target, source=name)
    numeric = [_is_num(w) for w in wants]
    for name in names:
        column = [s[name] for s, _ in pairs]
        if all(numeric) and all(_is_num(v) for v in column):
            yield from _linear(target, name, column, wants, ttype is FieldType.INTEGER)
        if all(isinstance(w, bool) for w in wants) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in column
        ):
            for bit in range(64):
                yield BitRule(target=target, source=name, bit=bit)
        if all(isinstance(v, bytes | bytearray) for v in column) and (
            all(numeric) or all(isinstance(w, bool) for w in wants)
        ):
            yield from _decodes(target, name, column, wants, ttype is FieldType.INTEGER)
    if all(isinstance(w, str) for w in wants):
        yield from _templates(target, names, pairs)


def _maps(target: str, names: list[str], pairs: list[tuple[dict[str, Any], Any]]) -> Iterator[Any]:
    """Value maps: the last resort, since a map fits any consistent example set."""
    wants = [w for _, w in pairs]
    for name in names:
        column = [s[name] for s, _ in pairs]
        if all(_is_key(v) for v in column) and all(_is_key(w) for w in wants):
            mapping: dict[Any, Any] = {}
            consistent = True
            for v, w in zip(column, wants, strict=True):
                key = (type(v).__name__, v)
                if key in mapping and mapping[key] != w:
                    consistent = False
                    break
                mapping[key] = w
            if consistent and len(mapping) > 1:
                pairs_list = [(k[1], w) for k, w in mapping.items()]
                yield MapRule(target=target, source=name, mapping=pairs_list)


def _common_names(pairs: list[tuple[dict[str, Any], Any]], target: str) -> list[str]:
    """Source fields present in every example, most similar to ``target`` first."""
    names = sorted(pairs[0][0], key=lambda n: (-name_score(n, target), n))
    return [n for n in names if all(n in s and s[n] is not None for s, _ in pairs)]


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_key(value: Any) -> bool:
    return isinstance(value, int | str | bool) and not isinstance(value, float)


def _snap(value: float) -> float:
    for nice in NICE_SCALES:
        for signed in (nice, -nice):
            if math.isclose(value, signed, rel_tol=1e-6):
                return signed
    return float(f"{value:.12g}")


def _snap_offset(value: float) -> float:
    rounded = round(value, 6)
    return rounded if math.isclose(value, rounded, rel_tol=1e-9, abs_tol=1e-9) else value


def _linear_params(xs: list[float], ys: list[float]) -> Iterator[tuple[float, float]]:
    distinct = {x: y for x, y in zip(xs, ys, strict=True)}
    if len(distinct) >= 2:
        (x0, y0), (x1, y1) = list(distinct.items())[:2]
        scale = _snap((y1 - y0) / (x1 - x0))
        yield scale, _snap_offset(y0 - scale * x0)
    else:
        # One input value: only scale-without-offset hypotheses are checkable.
        for nice in NICE_SCALES:
            yield nice, 0.0


def _linear(
    target: str, name: str, column: list[Any], wants: list[Any], integer: bool
) -> Iterator[Any]:
    for scale, offset in _linear_params(column, wants):
        if scale == 1.0 and offset == 0.0:
            continue  # that is a copy
        if scale != 0.0 and math.isfinite(scale) and math.isfinite(offset):
            yield LinearRule(
                target=target, source=name, scale=scale, offset=offset, integer=integer
            )


def _decodes(
    target: str, name: str, column: list[Any], wants: list[Any], integer: bool
) -> Iterator[Any]:
    shortest = min(len(v) for v in column)
    want_bool = all(isinstance(w, bool) for w in wants)
    for dtype in _DTYPE_ORDER:
        width = DTYPES[dtype][1]
        if want_bool and dtype.startswith("f"):
            continue
        seen_perms: set[tuple[int, ...]] = set()
        for layout in LAYOUTS:
            perm = permutation(width, layout)
            if perm in seen_perms:
                continue  # e.g. BADC == DCBA for two bytes
            seen_perms.add(perm)
            for offset in range(0, shortest - width + 1):
                raws = [read_scalar(v, offset, dtype, layout) for v in column]
                if any(isinstance(r, float) and not math.isfinite(r) for r in raws):
                    continue
                base: dict[str, Any] = {
                    "target": target,
                    "source": name,
                    "offset": offset,
                    "dtype": dtype,
                    "layout": layout,
                }
                if want_bool:
                    for bit in range(width * 8):
                        if all(
                            bool((int(r) >> bit) & 1) is w for r, w in zip(raws, wants, strict=True)
                        ):
                            yield DecodeRule(**base, bit=bit)
                    continue
                if all(values_equal(r, w) for r, w in zip(raws, wants, strict=True)):
                    yield DecodeRule(**base)
                    continue
                if integer and dtype.startswith("f"):
                    continue
                for scale, value_offset in _linear_params(raws, wants):
                    if (scale == 1.0 and value_offset == 0.0) or scale == 0.0:
                        continue
                    rule = DecodeRule(**base, scale=scale, value_offset=value_offset)
                    if all(
                        values_equal(apply_rule(rule, {name: v}), w)
                        for v, w in zip(column, wants, strict=True)
                    ):
                        yield rule


def _templates(
    target: str, names: list[str], pairs: list[tuple[dict[str, Any], Any]]
) -> Iterator[Any]:
    src0, want0 = pairs[0]
    tokens = _TOKEN.findall(want0)
    choices: list[list[str | None]] = []
    for token in tokens:
        options: list[str | None] = [None]
        if token[0].isalnum():
            options += [n for n in names if _text(src0[n]) == token]
        choices.append(options)
    combos = itertools.islice(itertools.product(*choices), _MAX_TEMPLATES)
    ranked = sorted(combos, key=lambda c: sum(x is not None for x in c))
    for combo in ranked:
        if all(c is None for c in combo):
            continue  # a literal string is a constant
        parts = [
            tok.replace("{", "{{").replace("}", "}}") if n is None else "{" + n + "}"
            for tok, n in zip(tokens, combo, strict=True)
        ]
        yield TemplateRule(target=target, template="".join(parts))
