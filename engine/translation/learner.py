"""Learning rules from example pairs by exhaustive search over a small hypothesis space.

For every target field the learner lists the rules that reproduce it on *all* examples: copy,
constant, linear scale/offset, bit extraction, numbers decoded from a bytes field (dtype ×
ABCD/DCBA/BADC/CDAB × offset × scale/offset), string templates such as
``plant/{unit_id}/hr/{address}``, and — only when none of those predicts every held-out example —
value maps. Fitting all examples does not tell a rule that generalises from one that memorises
them, so each candidate is also scored on examples held out from fitting
(:mod:`engine.translation.holdout`). The kept rule has the best held-out score, then the simplest
kind (:data:`~engine.translation.rules.COMPLEXITY`), then — for value maps — the fewest entries.
A value map that predicts no held-out example (each of its keys occurs once) is no evidence and
is never kept. Candidates scoring as well as the kept one are reported as ambiguous.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.translation.codecs import codec_for
from engine.translation.evaluate import _text, apply_rule
from engine.translation.fields import framing_fields
from engine.translation.generator import name_score, propose_rules
from engine.translation.holdout import Holdout, Pair, fits, holdout_score
from engine.translation.linefit import line_params
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

_DTYPE_ORDER = ("u16", "i16", "u32", "i32", "f32", "u8", "i8", "u64", "i64", "f64")
_MAX_TEMPLATES = 4096
_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+|[^0-9A-Za-z]+")
_SHOWN = 3  # alternatives named per ambiguity line


@dataclass(frozen=True)
class Scored:
    """A rule that reproduces every example, with its score on held-out examples."""

    rule: Any
    holdout: Holdout

    @property
    def no_evidence(self) -> bool:
        """A value map whose refits predicted none of the examples held out from them."""
        return isinstance(self.rule, MapRule) and self.holdout.total > 0 and not self.holdout.passed


@dataclass
class LearnResult:
    """What was learned per target field, and what the examples left open.

    Attributes:
        rules: The kept rule per target field (the generator's proposal where none was found).
        ambiguities: One line per field where other rules fitted and scored as well held out.
        unresolved: Fields no usable rule was found for.
        alternatives: Per ambiguous field, the rules that did as well as the kept one.
        holdout: Per learned field, the kept rule's held-out score.
        rejected: Rules that fitted every example but were refused for lack of evidence.
    """

    rules: list[Any]
    ambiguities: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    alternatives: dict[str, list[Any]] = field(default_factory=dict)
    holdout: dict[str, Holdout] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)


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
        for r in [c.rule for c in found[:1]]
        if isinstance(r, DecodeRule) and r.bit is None
    }
    for found in found_by_name.values():
        # Stable: within one held-out score the order of candidates() stands.
        found.sort(
            key=lambda c: (
                -c.holdout.rate,
                c.rule.kind not in ("copy", "constant"),
                not (isinstance(c.rule, DecodeRule) and (c.rule.source, c.rule.offset) in words),
            )
        )
    for name in targets:
        if name not in names:
            if name in fallback and targets[name].required:
                result.rules.append(fallback[name])
            continue
        found = [c for c in found_by_name[name] if not c.no_evidence]
        result.rejected += [
            f"{name}: {describe(c.rule)} fitted, but predicted no example held out from it "
            f"({c.holdout}): its keys do not repeat"
            for c in found_by_name[name]
            if c.no_evidence
        ]
        if not found:
            result.unresolved.append(name)
            if name in fallback:
                result.rules.append(fallback[name])
            continue
        kept = found[0]
        result.rules.append(kept.rule)
        result.holdout[name] = kept.holdout
        ties = [c.rule for c in found[1:] if c.holdout == kept.holdout]
        if ties:
            result.alternatives[name] = ties
            result.ambiguities.append(_ambiguity(name, kept, ties, len(found) - 1 - len(ties)))
    return result


def _ambiguity(name: str, kept: Scored, ties: list[Any], weaker: int) -> str:
    others = ", ".join(describe(r) for r in ties[:_SHOWN])
    more = f" (+{len(ties) - _SHOWN} more)" if len(ties) > _SHOWN else ""
    line = f"{name}: kept {describe(kept.rule)} ({kept.holdout}); also fit: {others}{more}"
    if weaker:
        line += f"; {weaker} other fitting rule(s) predicted fewer held-out examples"
    return line


def describe(rule: Any) -> str:
    """Short human form of a rule for ambiguity reports."""
    data = rule.model_dump(exclude={"target", "kind"}, mode="json")
    return f"{rule.kind}({', '.join(f'{k}={v}' for k, v in data.items())})"


def candidates(target: str, ttype: FieldType, pairs: list[Pair]) -> list[Scored]:
    """Every rule (from the search space) that maps each source to its target value, best first.

    Best: the highest held-out score, then the simplest kind (copy and constant first), then for
    value maps the fewest entries, then generation order (strong copies, constant, weak copies …).
    Value maps are tried only when no other rule predicts every held-out example; maps without
    evidence (:attr:`Scored.no_evidence`) are listed too, last, for the caller to refuse.
    """
    found: list[Scored] = []
    seen: set[str] = set()
    for rule in _generate(target, ttype, pairs):
        key = rule.model_dump_json()
        if key in seen or not fits(rule, pairs):
            continue
        seen.add(key)
        found.append(Scored(rule, holdout_score(rule, pairs)))
    perfect = any(c.holdout.total and c.holdout.passed == c.holdout.total for c in found)
    if not found or (len(pairs) > 1 and not perfect):
        found += [
            Scored(r, holdout_score(r, pairs))
            for r in _maps(target, _common_names(pairs, target), pairs)
            if fits(r, pairs)
        ]
    rank = {"copy": 0, "constant": 0}
    found.sort(
        key=lambda c: (
            -c.holdout.rate,
            rank.get(c.rule.kind, COMPLEXITY[c.rule.kind]),
            len(c.rule.mapping) if isinstance(c.rule, MapRule) else 0,
        )
    )
    return found


def _generate(target: str, ttype: FieldType, pairs: list[Pair]) -> Iterator[Any]:
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


def _maps(target: str, names: list[str], pairs: list[Pair]) -> Iterator[Any]:
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


def _common_names(pairs: list[Pair], target: str) -> list[str]:
    """Source fields present in every example, most similar to ``target`` first."""
    names = sorted(pairs[0][0], key=lambda n: (-name_score(n, target), n))
    return [n for n in names if all(n in s and s[n] is not None for s, _ in pairs)]


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_key(value: Any) -> bool:
    return isinstance(value, int | str | bool) and not isinstance(value, float)


def _linear(
    target: str, name: str, column: list[Any], wants: list[Any], integer: bool
) -> Iterator[Any]:
    for scale, offset in line_params(column, wants):
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
                for scale, value_offset in line_params(raws, wants):
                    if (scale == 1.0 and value_offset == 0.0) or scale == 0.0:
                        continue
                    rule = DecodeRule(**base, scale=scale, value_offset=value_offset)
                    if all(
                        values_equal(apply_rule(rule, {name: v}), w)
                        for v, w in zip(column, wants, strict=True)
                    ):
                        yield rule


def _templates(target: str, names: list[str], pairs: list[Pair]) -> Iterator[Any]:
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
