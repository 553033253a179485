"""``make run`` end to end: the demo's whole loop delivers results and MQTT messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.devstack.demo import run_demo

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_make_run_loop_delivers_results_and_mqtt(tmp_path: Path) -> None:
    counts = await run_demo(tmp_path / "run", duration_s=12)
    # The device is polled every second: requests and responses both get results, the
    # responses are also translated and reach the MQTT subscriber through the sink as JSON of
    # named values.
    assert counts.results >= 6, counts
    assert counts.translated >= 3, counts
    assert counts.mqtt_messages >= 3, counts
    assert counts.dead_letters == 0, counts
    # Named values, one topic per polled block (the simulated device's tag map).
    docs = {topic: doc for topic, doc in counts.mqtt_samples}
    assert set(docs) == {"cronos/1/process", "cronos/1/inputs"}, docs
    process = docs["cronos/1/process"]
    assert isinstance(process, dict) and isinstance(process["tags"]["temperature"], float)
    assert process["uom"]["temperature"] == "degC" and process["unit"] == 1
    assert set(docs["cronos/1/inputs"]["tags"]) == {"pressure", "humidity", "runtime"}
    assert not list((tmp_path / "run" / "stack").glob("*.pid")), "stack left running"
