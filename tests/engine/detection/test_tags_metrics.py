import numpy as np
import pytest

from engine.detection.scoring import byte_accuracy, score_spans
from engine.detection.tags import TagSet
from engine.errors import DatasetError


def test_encode_decode_round_trip() -> None:
    ts = TagSet(["header", "payload", "checksum"])
    spans = [(0, 2, "header"), (2, 3, "payload"), (3, 7, "payload"), (7, 9, "checksum")]
    ids = ts.encode(9, spans)
    assert ts.tags[ids[2]] == "S-payload"
    decoded = [(s, e, ts.type_name(t)) for s, e, t in ts.decode(np.array(ids))]
    assert decoded == spans


def test_gaps_become_unknown_fields_and_tile() -> None:
    ts = TagSet(["a"])
    ids = ts.encode(6, [(2, 4, "a")])
    decoded = [(s, e, ts.type_name(t)) for s, e, t in ts.decode(np.array(ids))]
    assert decoded == [(0, 2, "unknown"), (2, 4, "a"), (4, 6, "unknown")]


def test_decode_is_permissive_with_malformed_paths() -> None:
    ts = TagSet(["a", "b"])
    # I-a I-a I-b E-b B-a: not valid BIOES, still tiles with cuts at type changes and after E.
    path = [ts.tags.index(t) for t in ["I-a", "I-a", "I-b", "E-b", "I-a"]]
    assert [(s, e) for s, e, _ in ts.decode(np.array(path))] == [(0, 2), (2, 4), (4, 5)]


def test_extension_keeps_existing_ids() -> None:
    ts = TagSet(["b", "a"])
    grown = ts.extended(["c", "a"])
    assert grown.tags[: len(ts)] == ts.tags
    assert grown.field_types == ["b", "a", "c"]
    assert TagSet.from_tags(grown.tags).tags == grown.tags


def test_from_tags_rejects_garbage() -> None:
    with pytest.raises(DatasetError):
        TagSet.from_tags(["B-a", "I-a"])


def test_scores() -> None:
    gold = [[(0, 2, "h"), (2, 4, "p"), (4, 6, "c")]]
    pred = [[(0, 2, "h"), (2, 5, "p"), (5, 6, "c")]]
    s = score_spans(pred, gold)
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == pytest.approx(1 / 3)
    # Cuts: gold {2, 4}, predicted {2, 5}.
    assert s["boundary_precision"] == pytest.approx(0.5)
    assert s["boundary_f1"] == pytest.approx(0.5)
    assert byte_accuracy([[1, 2, 3]], [[1, 2, 0]]) == pytest.approx(2 / 3)
