"""`cronos dataset from-pcap` and `split` against real tshark on small committed captures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.datasets.pcap_import import import_capture
from engine.detection.dataset import iter_jsonl, load_jsonl, validate_spans
from tests.support.paths import REPO_ROOT
from workers.cli.main import app

ROOT = REPO_ROOT
CAPTURES = ROOT / "data/captures"


@pytest.fixture(autouse=True)
def _tshark() -> None:
    # A missing tshark is a set-up fault, not a reason to skip: `make test` installs it.
    if shutil.which("tshark") is None:
        pytest.fail("tshark is required: `make deps` installs it (Debian, as root)")


def test_modbus_capture_labels_every_message() -> None:
    result = import_capture(CAPTURES / "modbus/iti__bro_modbusSmall.pcap", "modbus")
    assert result.packets == 166
    assert result.messages == len(result.frames) == 32
    for frame in result.frames:
        validate_spans(frame.message, frame.spans)
        assert frame.spans[-1][1] == len(frame.message)
        assert frame.message[2:4] == b"\x00\x00"  # Modbus/TCP protocol id


def test_malformed_dnp3_is_skipped_and_counted() -> None:
    result = import_capture(CAPTURES / "dnp3/iti__openics_DNP3-Malformed.pcap", "dnp3")
    assert result.messages == 197
    assert result.skipped["malformed"] == 194 and len(result.frames) == 3


def test_cli_from_pcap_then_split(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "dnp3.jsonl"
    captures = [
        str(CAPTURES / "dnp3/iti__dnp3_test_data_part2.pcap"),
        str(CAPTURES / "dnp3/iti__bro_dnp3.pcap"),
    ]
    res = runner.invoke(app, ["dataset", "from-pcap", *captures, "-p", "dnp3", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "labelled" in res.output and "137" in res.output  # 22 + 115 messages
    rows = list(iter_jsonl(out))
    assert {r["source"] for r in rows} == {Path(c).name for c in captures}
    assert len(load_jsonl(out)) == 137  # the detector reads it as is
    res = runner.invoke(
        app, ["dataset", "split", str(out), "--test", "*part2*", "-o", str(tmp_path / "s")]
    )
    assert res.exit_code == 0, res.output
    train = list(iter_jsonl(tmp_path / "s/train.jsonl"))
    test = list(iter_jsonl(tmp_path / "s/test.jsonl"))
    assert {r["source"] for r in test} == {"iti__dnp3_test_data_part2.pcap"}
    # bro_dnp3 repeats the part-2 messages: they are removed from training
    assert not {r["frame_hex"] for r in train} & {r["frame_hex"] for r in test}
