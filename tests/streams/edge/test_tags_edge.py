"""Named values end to end: the ingest stamps each response with its request, tag maps decode it.

Real simulator, real Kafka-protocol broker, real mosquitto; the translation is the engine's
(``workers.devstack.relay.translate_raw``, which reads the headers the way the worker does).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
import pytest

from engine.translation.mqtt import MqttPublishCodec
from engine.translation.tag_decode import decode_block
from engine.translation.tag_publish import MQTT_RAW
from engine.translation.tags import TagOutput
from streams.edge.default_rules import modbus_to_mqtt_tag_rules
from streams.edge.modbus_ingest import ModbusIngest, parse_poll
from streams.edge.mqtt_sink import UndeliverableError, decode_publish
from streams.edge.mqtt_subscriber import MqttSubscriber
from streams.edge.raw_publisher import RawPublisher
from streams.edge.settings import IngestSettings
from tests.streams.edge.conftest import EdgeRig, EdgeTopics
from tests.support.edge import block, read_all, wait_for
from workers.devstack.modbus_sim import ModbusSimulator, sim_tag_map

pytestmark = pytest.mark.integration
POLLS = ("hr:0-9@30ms", "ir:0-3@30ms")


async def test_ingest_stamps_the_request_on_every_response(
    kafka_bootstrap: str, edge_topics: EdgeTopics
) -> None:
    polls = [parse_poll(p) for p in ("hr:5-9@20ms", "ir:2-5@20ms", "hr:40@20ms")]
    publisher = RawPublisher(kafka_bootstrap, edge_topics.raw)
    await publisher.start()
    stop = asyncio.Event()
    async with ModbusSimulator(port=0, units=(3,), changing=False) as sim:
        ingest = ModbusIngest(
            "127.0.0.1", sim.port, 3, polls, publisher, IngestSettings(topic=edge_topics.raw)
        )
        run = asyncio.create_task(ingest.run(stop))
        await wait_for(lambda: ingest.stats.polls_ok >= 12, what="polls")
        stop.set()
        await run
    await publisher.stop()
    polls_ok = ingest.stats.polls_ok
    raw = await read_all(kafka_bootstrap, edge_topics.raw, 2 * polls_ok)
    assert len(raw) == 2 * polls_ok
    seen: Counter[tuple[int, int, int]] = Counter()
    for rec in raw:
        headers = dict(rec.headers)
        if headers["direction"] == b"request":
            assert "modbus-address" not in headers  # a request says it itself
            continue
        fc, address, count = (
            int(headers[k]) for k in ("modbus-function", "modbus-address", "modbus-count")
        )
        seen[(fc, address, count)] += 1
        # The header names the block the response's bytes really are.
        assert rec.value[7] == fc and rec.value[9:] == block(3, fc, address, count)
    assert set(seen) == {(3, 5, 5), (4, 2, 4), (3, 40, 1)}
    assert sum(seen.values()) == polls_ok


async def _run_tag_pipeline(edge: EdgeRig, output: TagOutput) -> list[tuple[str, object]]:
    tag_map = sim_tag_map(output)
    sink = edge.make_sink()
    async with (
        ModbusSimulator(port=0, units=(1,), changing=False) as sim,
        MqttSubscriber(edge.broker.port) as sub,
    ):
        publisher = await edge.start_pipeline(sink, modbus_to_mqtt_tag_rules(tag_map))
        stop = asyncio.Event()
        ingest = ModbusIngest(
            "127.0.0.1",
            sim.port,
            1,
            [parse_poll(p) for p in POLLS],
            publisher,
            IngestSettings(topic=edge.topics.raw),
        )
        run = edge.background(ingest.run(stop))
        await wait_for(lambda: ingest.stats.polls_ok >= 6, what="polls")
        stop.set()
        await run
        await publisher.stop()
        # json: one message a poll; per_tag: one a tag (7 holding, 3 input registers' tags).
        expect = ingest.stats.polls_ok * (3 if output.mode == "per_tag" else 1)
        await wait_for(lambda: len(sub.messages) >= expect, what="messages")
        await wait_for(lambda: sink.delivered >= expect, what="acknowledged")
        assert sink.dead_lettered == 0
        return [(t, orjson.loads(p)) for t, p in sub.messages]


async def test_polled_blocks_reach_subscribers_as_named_values_per_block(edge: EdgeRig) -> None:
    got = await _run_tag_pipeline(edge, TagOutput())
    tag_map = sim_tag_map()
    expected = {
        "cronos/1/process": decode_block(tag_map, 3, 0, block(1, 3, 0, 10)),
        "cronos/1/inputs": decode_block(tag_map, 4, 0, block(1, 4, 0, 4)),
    }
    assert {t for t, _ in got} == set(expected)  # two blocks of one unit: two topics
    for topic, doc in got:
        assert isinstance(doc, dict)
        assert doc["unit"] == 1 and doc["block"] == topic.rsplit("/", 1)[1]
        assert doc["tags"] == expected[topic]
        assert isinstance(doc["ts"], int)  # ms since the epoch, from captured-at
    process = next(d for t, d in got if t == "cronos/1/process")
    assert isinstance(process, dict)
    assert process["tags"]["temperature"] == 10.01  # register 1 = 1001, i16 × 0.01
    assert process["uom"]["temperature"] == "degC"
    assert set(process["tags"]["status"]) == {"running", "alarm", "remote"}


async def test_one_topic_per_tag_when_configured(edge: EdgeRig) -> None:
    got = await _run_tag_pipeline(edge, TagOutput(mode="per_tag"))
    tag_map = sim_tag_map()
    values = decode_block(tag_map, 3, 0, block(1, 3, 0, 10)) | decode_block(
        tag_map, 4, 0, block(1, 4, 0, 4)
    )
    topics = {t for t, _ in got}
    assert topics == {f"cronos/1/process/{n}" for n in list(values)[:7]} | {
        f"cronos/1/inputs/{n}" for n in list(values)[7:]
    }
    for topic, doc in got:
        assert isinstance(doc, dict)
        name = topic.rsplit("/", 1)[1]
        assert doc["tag"] == name and doc["value"] == values[name]


def test_a_record_of_several_packets_is_several_messages_or_none() -> None:
    codec = MqttPublishCodec(MQTT_RAW)
    packets = [codec.build({"topic": f"cronos/1/b/t{i}", "payload": b"{}"}) for i in range(3)]
    messages = decode_publish(b"".join(packets), max_payload_bytes=64)
    assert [m.topic for m in messages] == ["cronos/1/b/t0", "cronos/1/b/t1", "cronos/1/b/t2"]
    with pytest.raises(UndeliverableError) as cut:
        decode_publish(b"".join(packets)[:-1], max_payload_bytes=64)
    assert cut.value.reason == "malformed_publish"
    big = codec.build({"topic": "cronos/1/b/big", "payload": b"x" * 100})
    with pytest.raises(UndeliverableError) as large:
        decode_publish(packets[0] + big, max_payload_bytes=64)  # the whole record, not half
    assert large.value.reason == "payload_too_large"
