"""``cronos detect``: the shipped model on hex frames, and the ``--reading`` option."""

from __future__ import annotations

from tests.support.cli import cli

READ_10_REGISTERS = "000100000017010314000a000b000c000d000e000f00100011001200130014"


def test_detect_prints_the_fields_of_a_frame() -> None:
    result = cli("detect", READ_10_REGISTERS)
    assert result.exit_code == 0, result.output
    assert "type_code" in result.output and "0-2" in result.output


def test_an_unknown_reading_is_refused_with_the_choices() -> None:
    result = cli("detect", "--reading", "sideways", READ_10_REGISTERS)
    assert result.exit_code == 2
    assert "crf, head, auto" in result.output


def test_every_reading_runs() -> None:
    for reading in ("crf", "head", "auto"):
        result = cli("detect", "--reading", reading, READ_10_REGISTERS)
        assert result.exit_code == 0, (reading, result.output)
