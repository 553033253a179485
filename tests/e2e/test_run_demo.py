"""``make run`` end to end: the demo's whole loop delivers results and MQTT messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.devstack.demo import run_demo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_make_run_loop_delivers_results_and_mqtt(tmp_path: Path) -> None:
    counts = await run_demo(tmp_path / "run", duration_s=12)
    # The device is polled every second: requests and responses both get results, the
    # responses are also translated and reach the MQTT subscriber through the sink.
    assert counts.results >= 6, counts
    assert counts.translated >= 3, counts
    assert counts.mqtt_messages >= 3, counts
    assert counts.dead_letters == 0, counts
    assert not list((tmp_path / "run" / "stack").glob("*.pid")), "stack left running"
