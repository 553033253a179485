from pathlib import Path

import pytest

from engine.datasets.synthetic import generate
from engine.detection.dataset import coerce_frame, load_jsonl, save_jsonl
from engine.errors import DatasetError


@pytest.mark.parametrize(
    ("spans", "reason"),
    [
        ([(0, 5, "a")], "outside"),
        ([(2, 2, "a")], "empty"),
        ([(0, 2, "a"), (1, 3, "b")], "overlaps"),
        ([(0, 2, "")], "empty type"),
        ([(0, "2", "a")], "must be"),
        ([(0, 2)], "not (start, end, type)"),
    ],
)
def test_bad_spans_are_refused_with_the_reason(spans: list, reason: str) -> None:
    with pytest.raises(DatasetError, match="frame"):
        coerce_frame((b"\x01\x02\x03", spans), max_bytes=100)


def test_bad_messages_are_refused() -> None:
    with pytest.raises(DatasetError, match="empty"):
        coerce_frame((b"", []), max_bytes=100)
    with pytest.raises(DatasetError, match="cap"):
        coerce_frame((b"x" * 101, []), max_bytes=100)
    with pytest.raises(DatasetError, match="bytes"):
        coerce_frame(("text", []), max_bytes=100)


def test_jsonl_round_trip(tmp_path: Path) -> None:
    frames = generate("telemetry", 20, seed=3)
    path = tmp_path / "d.jsonl"
    assert save_jsonl(frames, path) == 20
    assert load_jsonl(path) == frames


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"frame_hex": "0102", "fields": [[0, 2, "a"]]}\n{"frame_hex": "zz"}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2"):
        load_jsonl(path)
