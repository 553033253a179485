"""Synthetic Modbus/TCP frames labelled like the capture dataset (``modbus_pcap_style``)."""

from __future__ import annotations

import json

from engine.datasets.synthetic import modbus_pcap_spans, modbus_pcap_style
from engine.detection.dataset import validate_spans
from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT
PCAP_SETS = [ROOT / "data/datasets/pcap/train.jsonl", ROOT / "data/datasets/pcap/test.jsonl"]

# Rows of data/datasets/pcap/train.jsonl (iti__modbus_test_data_part1.pcap), labelled by tshark.
FC3_REQUEST = (
    "0001000000060a0300050002",
    [
        [0, 2, "id"],
        [2, 4, "magic"],
        [4, 6, "length"],
        [6, 7, "id"],
        [7, 8, "type_code"],
        [8, 10, "address"],
        [10, 12, "count"],
    ],
)
FC3_RESPONSE = (
    "0001000000070a030400090018",
    [
        [0, 2, "id"],
        [2, 4, "magic"],
        [4, 6, "length"],
        [6, 7, "id"],
        [7, 8, "type_code"],
        [8, 9, "count"],
        [9, 11, "value"],
        [11, 13, "value"],
    ],
)


def _as_lists(spans: tuple[tuple[int, int, str], ...] | None) -> list[list[object]] | None:
    return None if spans is None else [list(s) for s in spans]


def _pcap_rows() -> list[dict]:
    rows = []
    for path in PCAP_SETS:
        if path.is_file():
            with path.open() as f:
                rows += [r for line in f if (r := json.loads(line))["protocol"] == "modbus"]
    return rows


def test_fc3_request_and_response_match_the_pcap_labels() -> None:
    for (frame_hex, fields), request in ((FC3_REQUEST, True), (FC3_RESPONSE, False)):
        spans = modbus_pcap_spans(bytes.fromhex(frame_hex), request=request)
        assert _as_lists(spans) == fields
    # The rows are still in the committed dataset with these labels.
    rows = {r["frame_hex"]: r["fields"] for r in _pcap_rows()}
    if rows:
        assert rows[FC3_REQUEST[0]] == FC3_REQUEST[1]
        assert rows[FC3_RESPONSE[0]] == FC3_RESPONSE[1]


def test_every_labelled_capture_frame_of_a_supported_shape_agrees() -> None:
    """Each dataset row that parses as a request or a response gets tshark's spans."""
    rows = _pcap_rows()
    assert rows, "data/datasets/pcap is committed with the repo (regenerate: `make dataset`)"
    checked = 0
    for r in rows:
        frame = bytes.fromhex(r["frame_hex"])
        shapes = [
            _as_lists(s)
            for s in (modbus_pcap_spans(frame, request=q) for q in (True, False))
            if s is not None
        ]
        if shapes:
            checked += 1
            assert r["fields"] in shapes, r["frame_hex"]
    assert checked > 1000


def test_generator_is_deterministic_valid_and_covers_the_shapes() -> None:
    frames = modbus_pcap_style(600, seed=3)
    assert frames == modbus_pcap_style(600, seed=3)
    assert frames != modbus_pcap_style(600, seed=4)
    fcs: set[int] = set()
    register_counts: set[int] = set()
    for f in frames:
        assert validate_spans(f.message, f.spans) == f.spans
        # Like the capture labels, the fields tile the message exactly.
        assert f.spans[0][0] == 0 and f.spans[-1][1] == len(f.message)
        assert all(a[1] == b[0] for a, b in zip(f.spans, f.spans[1:], strict=False))
        assert f.protocol == "modbus"
        assert int.from_bytes(f.message[4:6], "big") == len(f.message) - 6
        fcs.add(f.message[7])
        if f.message[7] in (3, 4) and f.spans[5] == (8, 9, "count"):
            register_counts.add(f.message[8] // 2)
            assert [s[2] for s in f.spans[6:]] == ["value"] * (f.message[8] // 2)
    assert {1, 2, 3, 4, 5, 6, 15, 16} <= fcs and any(fc & 0x80 for fc in fcs)
    assert min(register_counts) == 1 and max(register_counts) >= 50
