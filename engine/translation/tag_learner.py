"""Learning a tag map from examples: register blocks paired with the named values they hold.

For each name the learner lists every tag that reproduces its value in *all* examples that name
it — each register address the examples' blocks share × type (``u16``, ``i16``, ``u32``,
``i32``, ``f32``; ``bool`` one bit or non-zero; ``bits``) × byte/word order × scale and offset —
and keeps the simplest: no scale before a scale before scale and offset, then the narrower and
unsigned type, then big-endian order, then the lowest address. A scale and offset are fitted on
the two examples with the most distant raw values and must then hold on every other example;
they are written as the shortest decimals that still reproduce every example. A name that fits
registers at more than one address is reported as ambiguous (more varied examples settle it);
a name nothing fits is unresolved.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.translation.errors import SpecError
from engine.translation.scalars import read_scalar
from engine.translation.tag_decode import decode_tag, in_block
from engine.translation.tags import TAG_REGISTERS, Tag, TagBlock, TagMap, TagOutput

_NUMERIC = ("u16", "i16", "u32", "i32", "f32")
#: (byte_order, word_order) tried, big-endian first; one-register types only swap bytes.
_ORDERS_16 = (("big", "big"), ("little", "big"))
_ORDERS_32 = (("big", "big"), ("big", "little"), ("little", "big"), ("little", "little"))


@dataclass(frozen=True)
class TagExample:
    """One register block read from a device and the named values it holds.

    Attributes:
        function_code: 3 (holding registers) or 4 (input registers).
        start: Address of the block's first register.
        data: The registers as big-endian bytes (``registers`` in :meth:`of`).
        values: ``{name: value}``: numbers, booleans, or ``{bit name: bool}`` for status words.
    """

    function_code: int
    start: int
    data: bytes
    values: Mapping[str, Any]

    @classmethod
    def of(
        cls,
        function_code: int,
        start: int,
        registers: Sequence[int] | bytes,
        values: Mapping[str, Any],
    ) -> TagExample:
        """An example from register values (0..65535 each) or register bytes."""
        if isinstance(registers, bytes | bytearray):
            data = bytes(registers)
        else:
            data = b"".join(int(r).to_bytes(2, "big") for r in registers)
        return cls(function_code, start, data, dict(values))

    @property
    def count(self) -> int:
        """Registers in the block."""
        return len(self.data) // 2


@dataclass
class TagLearnResult:
    """The learned map, how many examples it reproduces, and what stayed open."""

    tag_map: TagMap | None
    accuracy: float
    ambiguities: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and dict(actual) == dict(expected)
    if isinstance(expected, list | tuple):
        return isinstance(actual, list) and actual == list(expected)
    if not isinstance(actual, int | float) or not isinstance(expected, int | float):
        return False
    return math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9)


def _fits(tag: Tag, examples: Sequence[TagExample]) -> bool:
    return all(_same(decode_tag(tag, e.data, e.start), e.values[tag.name]) for e in examples)


def _shortest(value: float, check: Any) -> float:
    """The fewest-decimals rounding of ``value`` for which ``check(rounded)`` holds."""
    for places in range(13):
        rounded = round(value, places)
        if check(rounded):
            return rounded
    return value


def _numeric(
    name: str, fc: int, address: int, dtype: str, orders: tuple[str, str], group: list[TagExample]
) -> Iterator[tuple[int, Tag]]:
    """Tags of one register/type/order that reproduce ``name``, with their parameter count."""
    base = Tag(
        name=name,
        function_code=fc,  # type: ignore[arg-type]
        address=address,
        type=dtype,  # type: ignore[arg-type]
        byte_order=orders[0],  # type: ignore[arg-type]
        word_order=orders[1],  # type: ignore[arg-type]
    )
    if _fits(base, group):
        yield 0, base
        return
    if dtype == "f32":
        return  # a float register is its own value: no scale fitted on top
    raws = [read_scalar(e.data, (address - e.start) * 2, dtype, base.layout) for e in group]
    targets = [e.values[name] for e in group]
    if any(isinstance(y, bool) or not isinstance(y, int | float) for y in targets):
        return
    lo = min(range(len(raws)), key=raws.__getitem__)
    hi = max(range(len(raws)), key=raws.__getitem__)
    if raws[lo] == raws[hi]:
        if raws[lo] == 0:
            return
        fits = [(1, float(targets[lo]) / raws[lo], 0.0)]
    else:
        scale = (targets[hi] - targets[lo]) / (raws[hi] - raws[lo])
        fits = [(1, scale, 0.0), (2, scale, targets[lo] - scale * raws[lo])]
    for params, scale, offset in fits:
        if scale == 0 or not math.isfinite(scale) or not math.isfinite(offset):
            continue

        def with_values(s: float, o: float) -> Tag:
            return base.model_copy(update={"scale": s, "offset": o})

        if not _fits(with_values(scale, offset), group):
            continue
        scale = _shortest(scale, lambda s, o=offset: s != 0 and _fits(with_values(s, o), group))
        offset = _shortest(offset, lambda o, s=scale: _fits(with_values(s, o), group))
        yield params, with_values(scale, offset)
        return


def _boolean(name: str, fc: int, address: int, group: list[TagExample]) -> Iterator[Tag]:
    base = Tag(name=name, function_code=fc, address=address, type="bool")  # type: ignore[arg-type]
    for bit in (None, *range(16)):
        tag = base.model_copy(update={"bit": bit})
        if _fits(tag, group):
            yield tag


def _bits(name: str, fc: int, address: int, group: list[TagExample]) -> Iterator[Tag]:
    first = group[0].values[name]
    base = Tag(name=name, function_code=fc, address=address, type="bits")  # type: ignore[arg-type]
    if not isinstance(first, Mapping):
        if _fits(base, group):
            yield base
        return
    options: dict[str, list[int]] = {}
    for key in first:
        options[key] = [
            bit
            for bit in range(16)
            if all(
                isinstance(e.values[name], Mapping)
                and _same(bool((_word_of(base, e) >> bit) & 1), e.values[name].get(key))
                for e in group
            )
        ]
        if not options[key]:
            return
    names = {key: bits[0] for key, bits in options.items()}
    yield base.model_copy(update={"bit_names": names})
    for key, bits in options.items():
        if len(bits) > 1:  # another bit fits as well: a rival, reported as an ambiguity
            yield base.model_copy(update={"bit_names": names | {key: bits[1]}})


def _word_of(tag: Tag, example: TagExample) -> int:
    pos = (tag.address - example.start) * 2
    return int(read_scalar(example.data, pos, "u16", tag.layout))


def _where(tag: Tag) -> str:
    if tag.bit is not None:
        return f"{tag.address} bit {tag.bit}"
    if tag.bit_names:
        return f"{tag.address} bits {tag.bit_names}"
    return str(tag.address)


def _candidates(name: str, group: list[TagExample]) -> list[tuple[tuple[int, ...], Tag]]:
    fc = group[0].function_code
    lo = max(e.start for e in group)
    hi = min(e.start + e.count for e in group)  # exclusive: registers every block holds
    value = group[0].values[name]
    out: list[tuple[tuple[int, ...], Tag]] = []
    for address in range(lo, hi):
        if isinstance(value, bool):
            out.extend(((0, 0, 0, address), t) for t in _boolean(name, fc, address, group))
        elif isinstance(value, Mapping | list | tuple):
            out.extend(((0, 0, 0, address), t) for t in _bits(name, fc, address, group))
        elif isinstance(value, int | float):
            for rank, dtype in enumerate(_NUMERIC):
                if address + TAG_REGISTERS[dtype] > hi:
                    continue
                orders = _ORDERS_16 if TAG_REGISTERS[dtype] == 1 else _ORDERS_32
                for order_rank, order in enumerate(orders):
                    for params, tag in _numeric(name, fc, address, dtype, order, group):
                        out.append(((params, rank, order_rank, address), tag))
    out.sort(key=lambda c: c[0])
    return out


def learn_tag_map(
    examples: Sequence[TagExample],
    *,
    units: Mapping[str, str] | None = None,
    blocks: Sequence[TagBlock] = (),
    output: TagOutput | None = None,
) -> TagLearnResult:
    """Learn one tag per named value from ``examples`` (see the module docstring).

    Args:
        examples: Register blocks with the values they hold (each name in one table only).
        units: Engineering unit per name, copied onto the tags.
        blocks: Block names for the map.
        output: Output format of the map.

    Returns:
        The map (``None`` when no name could be learned), the share of ``examples`` whose
        every value it reproduces, and the ambiguous and unresolved names.
    """
    names = list(dict.fromkeys(n for e in examples for n in e.values))
    tags: list[Tag] = []
    ambiguities: list[str] = []
    unresolved: list[str] = []
    for name in names:
        group = [e for e in examples if name in e.values]
        if len({e.function_code for e in group}) != 1 or group[0].function_code not in (3, 4):
            unresolved.append(f"{name}: examples must read it from one table (FC 3 or 4)")
            continue
        try:
            found = _candidates(name, group)
        except (SpecError, ValueError) as exc:
            unresolved.append(f"{name}: {exc}")
            continue
        if not found:
            unresolved.append(f"{name}: no register, type, order and scale reproduces it")
            continue
        best_key, best = found[0]
        kept = _where(best)
        rivals = list(
            dict.fromkeys(_where(t) for k, t in found if k[0] == best_key[0] and _where(t) != kept)
        )
        if rivals:
            ambiguities.append(
                f"{name}: register {kept} kept; {'; '.join(rivals[:8])} fit the examples too"
            )
        unit = (units or {}).get(name)
        tags.append(best.model_copy(update={"unit": unit}) if unit else best)
    if not tags:
        return TagLearnResult(None, 0.0, ambiguities, unresolved)
    tag_map = TagMap(tags=tags, blocks=list(blocks), output=output or TagOutput())
    return TagLearnResult(tag_map, reproduced(tag_map, examples), ambiguities, unresolved)


def reproduced(tag_map: TagMap, examples: Sequence[TagExample]) -> float:
    """Share of ``examples`` whose every named value ``tag_map`` decodes from its block."""
    by_name = {t.name: t for t in tag_map.tags}
    ok = 0
    for e in examples:
        ok += all(
            name in by_name
            and in_block(by_name[name], e.function_code, e.start, e.count)
            and _same(decode_tag(by_name[name], e.data, e.start), value)
            for name, value in e.values.items()
        )
    return ok / len(examples) if examples else 0.0
