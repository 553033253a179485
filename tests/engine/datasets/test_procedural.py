"""Procedural protocols: random grammars, exact labels, derived fields that hold."""

from __future__ import annotations

from collections import Counter
from random import Random

from engine.datasets.checksums import CHECKSUMS, crc16_ccitt, crc16_modbus, crc32, sum8
from engine.datasets.field_types import FIELD_TYPES
from engine.datasets.procedural import (
    RESERVED_FIRST_BYTES,
    Grammar,
    ProceduralMessage,
    procedural_frames,
    procedural_grammars,
    random_grammar,
)
from engine.datasets.procedural_fields import Const
from engine.datasets.synthetic import generate
from engine.detection.dataset import validate_spans
from engine.detection.tags import UNKNOWN_TYPE

N_GRAMMARS = 200
PER_GRAMMAR = 12
DERIVED = {"length", "count", "offset", "checksum"}


def _corpus(seed: int = 11) -> list[tuple[Grammar, list[ProceduralMessage]]]:
    return [
        (g, g.messages(PER_GRAMMAR, Random(g.seed))) for g in procedural_grammars(N_GRAMMARS, seed)
    ]


def test_checksums_match_the_standard_check_values() -> None:
    data = b"123456789"
    assert (sum8(data), crc16_modbus(data), crc16_ccitt(data), crc32(data)) == (
        0xDD,
        0x4B37,
        0x29B1,
        0xCBF43926,
    )
    assert {name: width for name, (width, _) in CHECKSUMS.items()} == {
        "sum8": 1,
        "crc16_modbus": 2,
        "crc16_ccitt": 2,
        "crc32": 4,
    }


def test_spans_tile_every_message_with_the_detector_vocabulary() -> None:
    vocabulary = set(FIELD_TYPES) - {UNKNOWN_TYPE}
    seen: Counter[str] = Counter()
    for _, messages in _corpus():
        for m in messages:
            f = m.frame
            assert f.message and validate_spans(f.message, f.spans) == f.spans
            assert f.spans[0][0] == 0 and f.spans[-1][1] == len(f.message)
            assert all(a[1] == b[0] for a, b in zip(f.spans, f.spans[1:], strict=False))
            assert f.protocol == "procedural"
            seen.update(t for _, _, t in f.spans)
    assert set(seen) <= vocabulary
    # Every type but ``unknown`` is produced (``unknown`` means "no dissector field").
    assert set(seen) == vocabulary


def test_lengths_counts_offsets_and_checksums_hold_in_the_bytes() -> None:
    checked: Counter[str] = Counter()
    for _, messages in _corpus():
        for m in messages:
            msg, labels = m.frame.message, {(s, e): t for s, e, t in m.frame.spans}
            derived = {(s, e) for s, e, t in m.frame.spans if t in DERIVED}
            # Every length/count/offset/checksum span carries a relation, and only those do
            # (TLV and string lengths included).
            assert {r.field for r in m.relations} == derived
            for r in m.relations:
                assert labels[r.field] == r.kind
                value = int.from_bytes(msg[r.field[0] : r.field[1]], r.byteorder)  # type: ignore[arg-type]
                lo, hi = r.target
                assert 0 <= lo <= hi <= len(msg)
                if r.kind == "length":
                    assert value == hi - lo
                    assert lo == r.field[1] or (lo, hi) == (0, len(msg))
                elif r.kind == "count":
                    assert value == len(r.elements)
                    assert list(r.elements) == sorted(set(r.elements))
                    assert not r.elements or (r.elements[0] == lo and r.elements[-1] < hi)
                elif r.kind == "offset":
                    assert value == lo and lo >= r.field[1]
                else:
                    width, algorithm = CHECKSUMS[r.algorithm]
                    assert r.field[1] - r.field[0] == width
                    assert value == algorithm(msg[lo:hi])
                    assert hi == r.field[0] or (lo, hi) == (r.field[1], len(msg))
                checked[r.kind if r.kind != "checksum" else r.algorithm] += 1
    assert min(checked.values()) > 50, checked
    assert set(checked) == {"length", "count", "offset", *CHECKSUMS}


def test_a_corrupted_length_or_checksum_is_noticed() -> None:
    """The relations describe the bytes: change a byte of a checksummed span and it breaks."""
    g = next(g for g in procedural_grammars(50, 2) if "checksum:crc32" in g.kinds())
    m = next(m for m in g.messages(20, Random(0)) if any(r.kind == "checksum" for r in m.relations))
    r = next(r for r in m.relations if r.kind == "checksum")
    msg = bytearray(m.frame.message)
    lo, hi = r.target
    assert hi > lo
    msg[lo] ^= 0x01
    value = int.from_bytes(msg[r.field[0] : r.field[1]], r.byteorder)  # type: ignore[arg-type]
    assert value != CHECKSUMS[r.algorithm][1](bytes(msg[lo:hi]))


def test_deterministic_by_seed() -> None:
    assert procedural_frames(20, 5, seed=3) == procedural_frames(20, 5, seed=3)
    assert procedural_frames(20, 5, seed=3) != procedural_frames(20, 5, seed=4)
    assert str(random_grammar(77)) == str(random_grammar(77))
    assert random_grammar(77).name == "proc-0000004d"
    frames = procedural_frames(7, 9, seed=1)
    assert len(frames) == 63
    # ``cronos dataset synth --protocol procedural``: 20 messages per grammar, cut to n.
    assert generate("procedural", 45, seed=3) == procedural_frames(3, 20, seed=3)[:45]


def test_grammars_are_many_and_varied() -> None:
    corpus = _corpus()
    descriptions = {str(g) for g, _ in corpus}
    assert len(descriptions) == N_GRAMMARS
    kinds: Counter[str] = Counter()
    for g, messages in corpus:
        assert g.describe().startswith(f"grammar {g.name}\nheader:")
        assert len(g.kinds()) >= 3, g
        kinds.update(g.kinds())
        frames = [m.frame.message for m in messages]
        # Values vary per message (sequence numbers, clocks, payloads).
        assert len(set(frames)) > 1, g
    expected = {
        *("magic", "version", "reserved", "type", "enum", "flags", "sequence", "id", "address"),
        *("time", "uint", "length:rest", "length:total", "count", "array", "tlv", "record"),
        *("lp", "lp-bytes", "cstring", "fixed", "pad", "offset"),
        *(f"checksum:{name}" for name in CHECKSUMS),
    }
    assert expected <= set(kinds), expected - set(kinds)
    assert all(kinds[k] >= 5 for k in expected), kinds
    # Lengths vary within grammars, and both byte orders occur.
    varying = sum(len({len(m.frame.message) for m in ms}) > 1 for _, ms in corpus)
    assert varying > N_GRAMMARS * 0.7
    described = "\n".join(descriptions)
    assert " BE" in described and " LE" in described


def test_thousands_of_grammars_write_without_overflow() -> None:
    """Every field is wide enough for what it describes (``to_bytes`` raises otherwise)."""
    frames = procedural_frames(3000, 3, seed=5)
    assert len(frames) == 9000
    assert max(len(f.message) for f in frames) < 1024


def test_magics_avoid_the_frame_starts_of_the_evaluation_protocols() -> None:
    for g in procedural_grammars(500, 9):
        for e in g.header:
            if isinstance(e, Const) and e.kind == "magic":
                assert e.data[0] not in RESERVED_FIRST_BYTES
