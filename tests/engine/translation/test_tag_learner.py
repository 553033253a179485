"""Learning a tag map from register blocks and the named values they hold, checked held out."""

from __future__ import annotations

import random

import pytest

from engine.translation.tag_decode import decode_block, encode_block
from engine.translation.tag_learner import TagExample, learn_tag_map, reproduced
from engine.translation.tags import Tag, TagMap

#: A device's register map, as a vendor manual would give it: the learner sees only examples.
TRUTH = TagMap(
    tags=[
        Tag(name="counter", address=10),
        Tag(name="temperature", address=11, type="i16", scale=0.1),
        Tag(name="level", address=12, type="u16", scale=0.01, offset=-5.0),
        Tag(name="energy", address=13, type="u32", word_order="little"),
        Tag(name="flow", address=15, type="f32"),
        Tag(name="delta", address=17, type="i32", byte_order="little", scale=0.001),
        Tag(name="pump_on", address=19, type="bool", bit=4),
        Tag(name="status", address=20, type="bits", bit_names={"run": 0, "alarm": 7, "hi": 12}),
    ]
)


def examples(seed: int, n: int, start: int = 10, count: int = 12) -> list[TagExample]:
    """Random device states, encoded with TRUTH, as (block, named values) pairs."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        values = {
            "counter": rng.randrange(65536),
            "temperature": rng.randrange(-400, 1200) / 10,
            "level": round(rng.randrange(65536) / 100 - 5.0, 2),
            "energy": rng.randrange(1 << 32),
            "flow": rng.choice([0.5, 12.25, -3.75, 1024.0, 7.125]) * rng.randrange(1, 9),
            "delta": rng.randrange(-(1 << 31), 1 << 31) / 1000,
            "pump_on": rng.random() < 0.5,
            "status": {k: rng.random() < 0.5 for k in ("run", "alarm", "hi")},
        }
        data = bytearray(encode_block(TRUTH, 3, start, count, values))
        # Bits no tag names hold noise, as on a real device.
        # (Register bytes are big-endian: bits 8..15 in the first byte, 0..7 in the second.)
        pump, status = 2 * (19 - start), 2 * (20 - start)
        data[pump] = rng.randrange(256)
        data[pump + 1] |= rng.randrange(256) & 0xEF  # not bit 4
        data[status] |= rng.randrange(256) & 0xEF  # not bit 12
        data[status + 1] |= rng.randrange(256) & 0x7E  # not bits 0 and 7
        block = TagExample(3, start, bytes(data), decode_block(TRUTH, 3, start, bytes(data)))
        assert block.values["pump_on"] == values["pump_on"]
        out.append(block)
    return out


def test_learned_tag_map_reproduces_held_out_values() -> None:
    train = examples(seed=1, n=16)
    held_out = examples(seed=2, n=20)
    result = learn_tag_map(train, units={"temperature": "degC"})
    assert result.tag_map is not None and not result.unresolved, result
    assert result.accuracy == 1.0
    assert reproduced(result.tag_map, held_out) == 1.0
    learned = {t.name: t for t in result.tag_map.tags}
    assert learned["temperature"].unit == "degC"
    for truth in TRUTH.tags:
        got = learned[truth.name].model_copy(update={"unit": None})
        assert got == truth, (truth.name, got)


def test_blocks_at_other_addresses_teach_the_same_map() -> None:
    # Two polls that overlap on the tagged registers, at different start addresses.
    train = examples(seed=3, n=8, start=8, count=16) + examples(seed=4, n=8, start=10, count=12)
    result = learn_tag_map(train)
    assert result.tag_map is not None
    assert reproduced(result.tag_map, examples(seed=5, n=10, start=0, count=30)) == 1.0


def test_too_few_examples_are_reported_as_ambiguous_not_guessed_silently() -> None:
    # Two states: a random bit or register matches a boolean by chance.
    result = learn_tag_map(examples(seed=6, n=2))
    assert any(a.startswith("pump_on:") for a in result.ambiguities), result.ambiguities


def test_a_value_no_register_holds_is_unresolved() -> None:
    train = examples(seed=7, n=6)
    for i, e in enumerate(train):
        e.values["ghost"] = 3.14159 * (i + 1) ** 2  # not linear in any register
    result = learn_tag_map(train)
    assert [u.split(":")[0] for u in result.unresolved] == ["ghost"]
    assert result.accuracy == 0.0  # no example has every one of its values reproduced


@pytest.mark.parametrize("name", ["counter", "energy"])
def test_unscaled_integers_stay_integers(name: str) -> None:
    result = learn_tag_map(examples(seed=8, n=8))
    assert result.tag_map is not None
    tag = next(t for t in result.tag_map.tags if t.name == name)
    assert (tag.scale, tag.offset) == (1.0, 0.0)
