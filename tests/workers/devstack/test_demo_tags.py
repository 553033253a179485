"""``make run``'s rules name the simulated device's registers, and its MQTT lines show them."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.translation import store
from engine.translation.tag_decode import decode_block
from tests.support.edge import block
from workers.devstack.demo import RULES_VERSION, describe_mqtt, prepare_artifacts
from workers.devstack.modbus_sim import register_value, sim_tag_map


def test_sim_tag_map_names_the_simulated_registers() -> None:
    reads = 7
    values = decode_block(sim_tag_map(), 3, 0, block(1, 3, 0, 10, reads))
    assert values["counter"] == register_value(1, 3, 0, reads)
    assert values["temperature"] == round(register_value(1, 3, 1, reads) * 0.01, 2)
    high, low = register_value(1, 3, 2, reads), register_value(1, 3, 3, reads)
    assert values["energy"] == (high << 16) | low
    inputs = decode_block(sim_tag_map(), 4, 0, block(1, 4, 0, 4, reads))
    assert inputs["pressure"] == round(register_value(1, 4, 0, reads) * 0.01, 2)


async def test_demo_artifacts_hold_the_tag_mapped_rules(tmp_path: Path) -> None:
    await prepare_artifacts(tmp_path)
    (path,) = (tmp_path / "translation_rules").glob(f"*_v{RULES_VERSION}_*.json")
    rules = store.load(path)
    assert rules.tag_map == sim_tag_map()


def test_mqtt_lines_show_named_values() -> None:
    doc = {"ts": 1, "unit": 1, "block": "process", "tags": {"temperature": 10.01, "counter": 3}}
    line, parsed = describe_mqtt(
        "cronos/1/process", orjson.dumps(doc | {"uom": {"temperature": "degC"}})
    )
    assert "temperature=10.01 degC" in line and "counter=3" in line
    assert isinstance(parsed, dict) and parsed["tags"] == doc["tags"]
    line, parsed = describe_mqtt("cronos/1/fc3", b"\x03\xe8\x03\xe9")
    assert parsed is None and "03e803e9" in line
