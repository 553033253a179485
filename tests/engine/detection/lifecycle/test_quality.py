"""Data-quality checks: each problem found, errors refuse training, the CLI report."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.detection.field_detector import FieldDetector
from engine.detection.quality import DataQualityError, QualityPolicy, check_dataset
from engine.errors import DatasetError
from tests.support.cli import cli

from ..conftest import tiny_config

GOOD = (b"\x01\x02\x03\x04", [(0, 2, "a"), (2, 4, "b")])


def _codes(report: object, kind: str) -> set[str]:
    return {i.code for i in getattr(report, kind)}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ((b"\x01\x02\x03", [(0, 2, "a"), (1, 3, "b")]), "overlap"),
        ((b"\x01\x02\x03", [(0, 2, "a"), (2, 5, "b")]), "span_past_end"),
        ((b"", [(0, 1, "a")]), "empty_frame"),
        ((b"\x01" * 33, [(0, 33, "a")]), "oversized_frame"),
        ((b"\x01\x02", [(1, 1, "a")]), "bad_span"),
        ((b"\x01\x02", [("0", 1, "a")]), "bad_span"),
        ("not a frame", "malformed"),
    ],
)
def test_frame_errors(frame: object, code: str) -> None:
    report = check_dataset(
        [GOOD, frame], [(b"\x0a\x0b", [(0, 2, "a")])], QualityPolicy(max_bytes=32)
    )
    assert _codes(report, "errors") == {code} and not report.ok
    assert any(e.startswith("train[1]") for i in report.errors for e in i.examples)


def test_gaps_are_warnings_unless_strict() -> None:
    gappy = (b"\x01\x02\x03\x04\x05", [(1, 2, "a"), (3, 4, "b")])
    report = check_dataset([gappy], [GOOD])
    gap = next(i for i in report.warnings if i.code == "gap")
    assert gap.count == 3 and report.ok  # before, between and after the spans
    assert "gap" in _codes(
        check_dataset([gappy], [GOOD], QualityPolicy(strict_gaps=True)), "errors"
    )


def test_leakage_conflicts_duplicates_and_labels() -> None:
    train = [GOOD, GOOD, (b"\x09\x09", [(0, 2, "a")]), (b"\x07\x07", [(0, 1, "rare"), (1, 2, "a")])]
    val = [GOOD, (b"\x09\x09", [(0, 2, "b")]), (b"\x05\x05", [(0, 2, "new")])]
    report = check_dataset(train, val, QualityPolicy(rare_label_min=2))
    assert _codes(report, "errors") == {"leakage", "label_conflict"}
    assert {"duplicate", "rare_label", "unseen_label"} <= _codes(report, "warnings")
    leak = next(i for i in report.errors if i.code == "leakage")
    assert leak.count == 2  # GOOD and 0909 are in both sets
    assert report.stats["labels"]["a"] == {"train": 4, "val": 1}
    assert report.stats["unique_train_frames"] == 3


def test_train_refuses_with_report_and_can_be_disabled(frames: list) -> None:
    val = frames[240:260]
    leaky = frames[:40] + val[:3]
    with pytest.raises(DataQualityError) as exc:
        FieldDetector(tiny_config()).train(leaky, val, num_epochs=1)
    assert isinstance(exc.value, DatasetError) and "leakage" in str(exc.value)
    assert exc.value.report.errors[0].count == 3
    history = FieldDetector(tiny_config(quality_checks=False)).train(leaky, val, num_epochs=1)
    assert history["summary"]["epochs_run"] == 1


def test_cli_dataset_check(tmp_path: Path, data_files: dict[str, Path]) -> None:
    ok = cli(
        "dataset", "check", "--train", str(data_files["train"]), "--val", str(data_files["val"])
    )
    assert ok.exit_code == 0, ok.output
    assert "training allowed" in ok.output and "transaction_id" in ok.output
    bad = tmp_path / "bad.jsonl"
    rows = [
        {"frame_hex": "010203", "fields": [[0, 2, "a"], [1, 3, "b"]]},
        {"frame_hex": "0102", "fields": [[0, 2, "a"]]},
    ]
    bad.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    result = cli("dataset", "check", "--train", str(bad), "--val", str(bad))
    assert result.exit_code == 1
    assert "overlap" in result.output and "leakage" in result.output
    assert "training refused" in result.output
