"""Leave-one-family-out benchmark: family table, sampling without the family, scoring variants."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import accuracy_lofo as lofo  # noqa: E402
from accuracy_scoring import boundary_score_long_ignored, cut_errors  # noqa: E402

from engine.datasets.scapy_corpus import SCAPY_PROTOCOLS  # noqa: E402


def test_families_are_many_disjoint_and_cover_the_scapy_corpus() -> None:
    members = [p for protos in lofo.FAMILIES.values() for p in protos]
    assert len(lofo.FAMILIES) >= 10
    assert len(members) == len(set(members))
    assert set(SCAPY_PROTOCOLS) <= set(members)
    reserved = ("s7", "bacnet", "iec104", "iec60870", "mqtt", "coap")
    assert not [p for p in members if any(r in p for r in reserved)]


def _row(hexa: str, protocol: str) -> str:
    n = len(hexa) // 2
    return json.dumps(
        {
            "frame_hex": hexa,
            "fields": [[0, 1, "type_code"], [1, n, "payload"]],
            "protocol": protocol,
            "source": f"{protocol}.pcap",
        }
    )


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pcap-all").mkdir()
    caps = [_row(f"{i:02x}0102{k:02x}", p) for i in range(20) for k, p in enumerate(("dns", "ntp"))]
    (tmp_path / "pcap-all/train.jsonl").write_text("\n".join(caps) + "\n")
    scapy = [
        _row(f"{i:02x}aabb{k:02x}", p)
        for i in range(20)
        for k, p in enumerate(("mdns", "bgp", "s7comm"))
    ]
    (tmp_path / "scapy.jsonl").write_text("\n".join(scapy) + "\n")
    monkeypatch.setattr(lofo, "CAPTURES", tmp_path / "pcap-all")
    monkeypatch.setattr(lofo, "SCAPY", tmp_path / "scapy.jsonl")
    return tmp_path


def test_training_sample_holds_out_the_whole_family(corpus: Path) -> None:
    budget = lofo.Budget(procedural_grammars=2, procedural_per_grammar=3, modbus_balanced=57)
    train, val = lofo.training_sample("dns", budget)
    protocols = {f.protocol for f in train + val}
    assert protocols == {"ntp", "bgp", "modbus", "procedural"}  # no dns, no mdns, no s7comm
    assert not {f.message for f in train} & {f.message for f in val}
    assert "procedural" not in {f.protocol for f in val}


def test_modbus_family_drops_the_balanced_frames(corpus: Path) -> None:
    budget = lofo.Budget(procedural_grammars=1, procedural_per_grammar=2)
    train, val = lofo.training_sample("modbus", budget)
    assert "modbus" not in {f.protocol for f in train + val}


def test_long_field_variant_ignores_cuts_inside_long_fields_only() -> None:
    gold = [[(0, 2, "a"), (2, 22, "payload"), (22, 30, "b")]]
    pred = [[(0, 2, "a"), (2, 10, "x"), (10, 22, "x"), (22, 26, "x"), (26, 30, "x")]]
    lenient = boundary_score_long_ignored(pred, gold, min_len=16)
    assert lenient["boundary_precision"] == pytest.approx(2 / 3)  # 2, 22 kept; 26 counts
    assert lenient["boundary_recall"] == 1.0
    strict = boundary_score_long_ignored(pred, gold, min_len=64)
    assert strict["boundary_precision"] == pytest.approx(2 / 4)


def test_cut_errors_name_the_fields_around_each_error() -> None:
    gold = [[(0, 2, "magic"), (2, 4, "length"), (4, 8, "address")]]
    pred = [[(0, 2, "x"), (2, 3, "x"), (3, 8, "x")]]
    errors = cut_errors(pred, gold, ["p"])
    assert errors["missed"] == [("p: length | address", 1)]
    assert errors["extra"] == [("p: inside length[2]@+1", 1)]


def test_the_auto_threshold_of_a_family_is_chosen_on_the_others() -> None:
    def result(f1: dict[str, float]) -> dict:
        return {"auto": {tau: {"boundary_f1": v} for tau, v in f1.items()}}

    results = {
        "a": result({"0.5": 0.9, "0.9": 0.1}),  # a alone would pick 0.5
        "b": result({"0.5": 0.2, "0.9": 0.8}),
        "c": result({"0.5": 0.3, "0.9": 0.7}),
    }
    assert lofo.held_out_threshold(results, "a") == "0.9"  # b and c prefer 0.9
    assert lofo.held_out_threshold(results, "b") == "0.5"  # a + c: 1.2 at 0.5 vs 0.8 at 0.9
