"""Tiling policy and the file-level split."""

from __future__ import annotations

from engine.datasets.field_types import field_type
from engine.datasets.split import split_rows
from engine.datasets.tiling import Piece, tile


def test_bit_fields_fold_into_their_parent_and_gaps_are_explicit() -> None:
    pieces = [
        Piece(0, 2, "dns.id"),
        Piece(2, 4, "dns.flags"),
        Piece(2, 4, "dns.flags.response"),  # bit-field over the same two bytes
        Piece(6, 8, "dns.count.queries"),
    ]
    assert tile(pieces, 10, field_type) == [
        (0, 2, "id"),
        (2, 4, "flags"),
        (4, 6, "unknown"),
        (6, 8, "count"),
        (8, 10, "unknown"),
    ]


def test_text_items_cut_and_the_innermost_named_item_names() -> None:
    pieces = [
        Piece(0, 6, None),  # "Queries" text item
        Piece(0, 4, "dns.qry.name"),
        Piece(0, 4, "dns.qry.name.len"),  # ignored name over the same bytes
        Piece(4, 6, "dns.qry.type"),
    ]
    assert tile(pieces, 6, field_type) == [(0, 4, "name"), (4, 6, "type_code")]


def test_crossing_items_merge_into_one_field() -> None:
    pieces = [Piece(0, 3, "x.flags"), Piece(2, 4, "x.value"), Piece(4, 5, "x.len")]
    assert tile(pieces, 5, field_type) == [(0, 4, "flags"), (4, 5, "length")]


def _row(payload: str, source: str, proto: str = "p") -> dict:
    return {"frame_hex": payload, "fields": [[0, 1, "id"]], "protocol": proto, "source": source}


def test_split_keeps_files_apart_and_drops_leaked_payloads() -> None:
    rows = [_row("aa", "small.pcap"), _row("bb", "small.pcap")]
    rows += [_row("aa", "big.pcap"), _row("cc", "big.pcap"), _row("cc", "big.pcap")]
    out = split_rows(rows, ["small*"])
    assert {r["source"] for r in out.test} == {"small.pcap"}
    assert {r["source"] for r in out.train} == {"big.pcap"}
    assert [r["frame_hex"] for r in out.train] == ["cc"]
    assert out.duplicates["p"] == 2


def test_split_auto_picks_the_smallest_sizeable_file_and_caps_training() -> None:
    rows = [_row(f"{i:04x}", "a.pcap") for i in range(200)]
    rows += [_row(f"1{i:04x}", "b.pcap") for i in range(100)]
    rows += [_row(f"2{i:04x}", "c.pcap") for i in range(5)]
    out = split_rows(rows, max_train_per_file=50, seed=1)
    assert out.test_sources == {"b.pcap"}
    assert len(out.train) == 55 and out.capped["p"] == 150
