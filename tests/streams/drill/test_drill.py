"""Rollback drill without a broker: target choice, verdicts, worker waits, probes, the command."""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter

import pytest
from rich.console import Console
from typer.testing import CliRunner

from engine.datasets.synthetic import generate
from streams.control.state import HistoryEntry, VersionPointer
from streams.drill import runner as drill_mod
from streams.drill.probe import PROBE_SOURCE, ProbeFrames, Stamp
from streams.drill.report import (
    BACK,
    TO_PREVIOUS,
    Applied,
    DrillReport,
    is_subsequence,
    partition_sequences,
    previous_version,
)
from streams.drill.runner import DrillConfig, DrillError, _enough, run_drill
from streams.worker.settings import KafkaSettings
from workers.cli.drill import render
from workers.cli.main import app


def _entry(to: str, outcome: str = "applied", action: str = "swap") -> HistoryEntry:
    return HistoryEntry(action, None, to, "c", "ops@h", outcome, sha256="ab" * 32)


def test_previous_version_skips_refusals_and_the_current_version() -> None:
    history = [
        _entry("1.1.0"),
        _entry("2.0.0", "rejected"),
        _entry("1.1.0"),
        _entry("1.0.0", action="bootstrap"),
    ]
    assert previous_version(history, "1.1.0") == "1.0.0"
    assert previous_version([_entry("1.0.0", action="bootstrap")], "1.0.0") is None


def test_version_sequences_per_partition_and_order_check() -> None:
    stamps = [
        Stamp(0, o, 0.0, f"f{o}", v)
        for o, v in [(3, "1.0.0"), (1, "1.1.0"), (2, "1.1.0"), (5, "1.1.0"), (4, "1.0.0")]
    ]
    stamps.append(Stamp(1, 0, 0.0, "g", "1.1.0"))
    assert partition_sequences(stamps) == {
        0: [("1.1.0", 2), ("1.0.0", 2), ("1.1.0", 1)],
        1: [("1.1.0", 1)],
    }
    expected = ["1.1.0", "1.0.0", "1.1.0"]
    assert is_subsequence(["1.0.0", "1.1.0"], expected)
    assert not is_subsequence(["1.0.0", "1.1.0", "1.0.0"], expected)
    assert not is_subsequence(["9.9.9"], expected)


def _passing() -> DrillReport:
    report = DrillReport(
        "field_detector", "1.1.0", "1.0.0", "r1", sent=10, results=10, final_version="1.1.0"
    )
    for phase in (TO_PREVIOUS, BACK):
        for w in ("w1", "w2"):
            report.applied.append(Applied(phase, w, "applied", None, 12.0, 300.0))
    report.sequences = {0: [("1.1.0", 3), ("1.0.0", 4), ("1.1.0", 3)]}
    return report


def test_report_verdicts() -> None:
    assert _passing().problems() == [] and _passing().ok
    lost = _passing()
    lost.lost = 2
    assert lost.problems() == ["2 probe frames lost"]
    refused = _passing()
    refused.applied[1] = Applied(TO_PREVIOUS, "w2", "rejected", "load_failed", 1.0, 9.0)
    assert refused.problems() == ["w2 rejected to-previous: load_failed"]
    silent = _passing()
    silent.missing_workers[BACK] = ["w2"]
    assert silent.problems() == ["no back event from w2"]
    flapped = _passing()
    flapped.sequences[1] = [("1.0.0", 1), ("1.1.0", 1), ("1.0.0", 1)]
    assert flapped.problems() == ["partition 1 saw versions 1.0.0 → 1.1.0 → 1.0.0"]
    stuck = _passing()
    stuck.final_version = "1.0.0"
    assert stuck.problems() == ["pointer ended on 1.0.0, not 1.1.0"]
    nobody = _passing()
    nobody.applied = [a for a in nobody.applied if a.phase == TO_PREVIOUS]
    assert nobody.problems() == ["no worker answered back"]


def test_waiting_for_workers() -> None:
    now = time.monotonic()
    assert not _enough({"w1": 1}, 2, now, 3.0) and _enough({"w1": 1, "w2": 1}, 2, now, 3.0)
    assert not _enough({"w1": 1}, frozenset({"w1", "w2"}), now, 3.0)
    assert _enough({"w1": 1, "w2": 1, "w3": 1}, frozenset({"w1", "w2"}), now, 3.0)
    # Whoever answers: at least one answer, then a quiet spell.
    assert not _enough({}, None, now - 10, 3.0)
    assert not _enough({"w1": 1}, None, now, 3.0)
    assert _enough({"w1": 1}, None, now - 3.5, 3.0)


def test_probe_frames_are_valid_modbus_with_unique_ids() -> None:
    frames = ProbeFrames("drill-x-")
    probes = [frames[i] for i in range(600)]
    assert len({p.frame_id for p in probes}) == 600 and probes[7].frame_id == "drill-x-7"
    headers = dict(probes[0].headers)
    assert headers == {
        "protocol": b"modbus",
        "source": PROBE_SOURCE.encode(),
        "frame-id": b"drill-x-0",
    }
    assert probes[0].value == generate("modbus", 1, seed=11)[0].message
    assert {p.key for p in probes} == {f"{PROBE_SOURCE}-{i}".encode() for i in range(7)}


def test_render_prints_the_tables_and_the_verdict() -> None:
    out = Console(file=io.StringIO(), width=120, record=True)
    render(_passing(), out)
    text = out.export_text()
    assert "to-previous" in text and "1.1.0 (3) → 1.0.0 (4) → 1.1.0 (3)" in text
    assert "PASSED" in text
    failed = _passing()
    failed.lost = 1
    out = Console(file=io.StringIO(), width=120, record=True)
    render(failed, out)
    assert "FAILED: 1 probe frames lost" in out.export_text()


def test_drill_is_mounted_and_refuses_other_components() -> None:
    runner = CliRunner()
    helped = runner.invoke(app, ["control", "drill", "--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0
    for option in ("--to", "--probe-frames", "--rate", "--timeout", "--workers"):
        assert option in helped.output
    refused = runner.invoke(app, ["control", "drill", "--component", "translation_rules"])
    assert refused.exit_code == 2 and "field_detector only" in refused.output


class _Store:
    async def get_active(self, component: str) -> VersionPointer:
        return VersionPointer("1.1.0", "p", "sha", "c")

    async def get_history(self, component: str, limit: int) -> list[HistoryEntry]:
        return [_entry("1.1.0"), _entry("1.0.0", action="bootstrap")]


class _Load:
    def __init__(self, *args: object) -> None:
        self.published = [f"p{i}" for i in range(100)]

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def check(self) -> None: ...


def _fakes(monkeypatch: pytest.MonkeyPatch, flowing: bool) -> list[str]:
    """Replace the drill's Kafka clients; returns the versions of the commands it sends."""
    sent: list[str] = []

    class Channel:
        def __init__(self, *args: object) -> None:
            self.sent = sent

        async def start(self) -> None: ...
        async def stop(self) -> None: ...

        async def send(
            self, action: str, component: str, version: str, reason: str, sha256: str
        ) -> str:
            sent.append(version)
            return "id"

        async def swap(self, component: str, version: str, *args: object) -> list:
            await self.send("swap", component, version, "", self.sha256[version])
            raise RuntimeError("broker gone")  # after the first swap was published

    class Counter_:
        def __init__(self, *args: object) -> None:
            self.stamps = [Stamp(0, 0, 0.0, "p0", "1.1.0")] if flowing else []
            self.dead: Counter[str] = Counter()
            self.results: Counter[str] = Counter({"p0": 1} if flowing else {})

        async def start(self) -> None: ...
        async def stop(self) -> None: ...
        async def poll(self, timeout_s: float) -> None:
            await asyncio.sleep(timeout_s)

        def missing(self, published: list[str]) -> set[str]:
            return set()

        def duplicates(self, published: list[str]) -> int:
            return 0

    monkeypatch.setattr(drill_mod, "_Channel", Channel)
    monkeypatch.setattr(drill_mod, "OutcomeCounter", Counter_)
    monkeypatch.setattr(drill_mod, "ProbeLoad", _Load)
    return sent


async def test_the_way_back_is_sent_when_the_drill_breaks_between_swaps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = _fakes(monkeypatch, flowing=True)
    with pytest.raises(RuntimeError, match="broker gone"):
        await run_drill(KafkaSettings(), _Store(), b"k" * 32, DrillConfig(), "t")  # type: ignore[arg-type]
    assert sent == ["1.0.0", "1.1.0"]


async def test_nothing_is_swapped_when_no_probe_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _fakes(monkeypatch, flowing=False)
    report = await run_drill(KafkaSettings(), _Store(), b"k" * 32, DrillConfig(timeout_s=0.3), "t")  # type: ignore[arg-type]
    assert sent == [] and not report.ok
    assert "nothing swapped" in report.errors[0] and report.previous == "1.0.0"


async def test_no_recorded_sha256_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    class Legacy(_Store):  # history written before entries carried the artifact's sha256
        async def get_history(self, component: str, limit: int) -> list[HistoryEntry]:
            return [HistoryEntry("bootstrap", None, "1.0.0", "c", "ops@h", "applied")]

    with pytest.raises(DrillError, match=r"no sha256 recorded for 1\.0\.0"):
        await run_drill(KafkaSettings(), Legacy(), b"k" * 32, DrillConfig(), "t")  # type: ignore[arg-type]


async def test_no_previous_version_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    class Fresh(_Store):
        async def get_history(self, component: str, limit: int) -> list[HistoryEntry]:
            return [_entry("1.1.0", action="bootstrap")]

    with pytest.raises(DrillError, match=r"no version other than 1\.1\.0"):
        await run_drill(KafkaSettings(), Fresh(), b"k" * 32, DrillConfig(), "t")  # type: ignore[arg-type]
