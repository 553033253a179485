"""Batch reports, the recorder, shadow comparison, the status page and `cronos monitor` output,
without sockets (a fake windows object stands in for Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rich.console import Console

from engine.core.config import Config, DetectorSettings
from engine.datasets.synthetic import generate
from engine.detection.boundary import FieldBoundary
from engine.detection.field_detector import FieldDetector
from streams.monitoring.recorder import Recorder
from streams.monitoring.settings import MonitorSettings
from streams.monitoring.shadow import SHADOW, ShadowEvaluator, compare
from streams.monitoring.status_page import render, svg_chart
from streams.monitoring.windows import Figures
from streams.worker.batch_report import BatchReport
from streams.worker.deadletter import DeadLetter
from streams.worker.registry import DETECTOR, Active, ModelRegistry
from streams.worker.results import Frame
from workers.cli.monitor_view import render as render_table


class FakeWindows:
    def __init__(self) -> None:
        self.writes: list[list[tuple[str, str, Figures]]] = []

    async def record(self, items: Any, now: float | None = None) -> None:
        self.writes.append(list(items))


@pytest.fixture(scope="module")
def tiny() -> FieldDetector:
    frames = generate("modbus", 16, seed=1)
    det = FieldDetector(
        Config(detector=DetectorSettings(embedding_dim=8, hidden_size=8, num_layers=1, seed=0))
    )
    det.train(frames[:8], frames[8:], num_epochs=1, batch_size=8)
    return det


def test_batch_report_figures() -> None:
    r = BatchReport()
    found = [[FieldBoundary(0, 2, "a", 0.5), FieldBoundary(2, 4, "b", 1.0)], ValueError("x")]
    r.add_detection("1.0.0", [b"ab", b"cd"], found, seconds=0.004)
    r.add_translation("modbus->mqtt", "2.0.0", 0.001)
    r.add_translation("modbus->mqtt", "2.0.0", None)
    r.add_dead_letter(DeadLetter(Frame(b"", None, [("frame-id", b"f1")]), "empty_frame", "x"))
    assert (r.detector.count, r.detector.errors, r.detector.avg_latency_ms()) == (2, 1, 2.0)
    assert r.detector.avg_confidence() == 0.75 and r.frames == [b"ab"]
    assert r.rules[("modbus->mqtt", "2.0.0")].success_rate() == 0.5
    assert r.dead_letters == [("empty_frame", "validate", "x", "f1")]


async def test_recorder_writes_one_batch_and_survives_failures() -> None:
    windows = FakeWindows()
    rec = Recorder(windows)  # type: ignore[arg-type]
    r = BatchReport()
    r.add_detection("1.0.0", [b"ab"], [[FieldBoundary(0, 2, "a", 0.9)]], 0.001)
    r.add_translation("modbus->mqtt", "2.0.0", 0.001)
    await rec.record(r)
    assert [[(c, v) for c, v, _ in w] for w in windows.writes] == [
        [(DETECTOR, "1.0.0"), ("translation_rules:modbus->mqtt", "2.0.0")]
    ]

    async def broken(items: Any, now: float | None = None) -> None:
        raise ConnectionError("redis down")

    windows.record = broken  # type: ignore[method-assign]
    await rec.record(r)  # logged, not raised


async def test_shadow_compares_candidate_with_active(tiny: FieldDetector) -> None:
    frames = [f.message for f in generate("modbus", 6, seed=2)]
    found = tiny.detect_boundaries_batch(frames)
    cand, base = compare(tiny, tiny, frames, found)
    assert cand.count == base.count == 6 and cand.avg_agreement() == 1.0
    assert cand.avg_confidence() == pytest.approx(base.avg_confidence())

    registry = ModelRegistry()
    registry.activate(DETECTOR, None, Active(tiny, "1.0.0", "0" * 64, "/x", "c"))
    windows = FakeWindows()
    shadow = ShadowEvaluator(
        "1.1.0",
        None,
        registry,
        windows,  # type: ignore[arg-type]
        MonitorSettings(shadow_sample_rate=1.0),
    )
    shadow.candidate = tiny
    report = BatchReport()
    report.add_detection("1.0.0", frames, found, 0.01)
    shadow.offer(report)
    await shadow.stop()
    (write,) = windows.writes
    assert [c for c, _, _ in write] == [SHADOW, "shadow_baseline:field_detector"]
    assert write[0][2].agreement_n == 6
    await asyncio.sleep(0)


def test_status_page_and_monitor_table_render() -> None:
    figs = Figures(count=3, accuracy=1.8, accuracy_n=2)
    figs.add_latency(2.0, 3)
    data = {
        "worker_id": "w1",
        "at": "2026-01-01T00:00:00Z",
        "active": {"version": "1.0.0", "pointer": "1.0.0", "known_good": "1.0.0"},
        "history": [
            {
                "at": "t",
                "action": "emergency_rollback",
                "from_version": "1.1.0",
                "to_version": "1.0.0",
                "outcome": "applied",
                "reason": "auto <b>",
                "issuer": "monitor@w1",
            }
        ],
        "windows": [{"component": DETECTOR, "version": "1.0.0", "window": "1m", **figs.to_dict()}],
        "charts": [
            {
                "component": DETECTOR,
                "version": "1.0.0",
                "points": [[0, 1, 2.0, 0.9], [10, 3, 1.0, None]],
            }
        ],
        "dead_letters": [
            {
                "at": 0.0,
                "reason": "empty_frame",
                "stage": "validate",
                "detail": "",
                "frame_id": "f1",
            }
        ],
    }
    page = render(data)
    assert page.count("<svg") == 3 and "auto &lt;b&gt;" in page and "empty_frame" in page
    assert "<polyline" in svg_chart([(0, 1), (1, 2)], "t") and "<polyline" not in svg_chart([], "t")
    console = Console(record=True, width=160)
    console.print(render_table([(DETECTOR, "1.0.0", "active", [figs, figs, figs])]))
    text = console.export_text()
    assert "1.0.0" in text and "active" in text and "0.900" in text
