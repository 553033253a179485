"""Bounded outputs: the record cap, the header whitelist, stubs, and size refusals by a real
producer (never retried as they were)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from streams.worker.deadletter import DeadLetter
from streams.worker.processor import Outcome
from streams.worker.publisher import Record, dead_letter_record, publish_outcomes, records_for
from streams.worker.results import Frame
from streams.worker.settings import KafkaSettings, WorkerSettings
from tests.support.stream import TopicReader

TOPICS = KafkaSettings(topic_results="res", topic_dlq="dlq")
SETTINGS = WorkerSettings(max_record_bytes=8 * 1024)
HEADERS = [("frame-id", b"f1"), ("protocol", b"modbus"), ("x-trace", b"t" * 2000)]


def _frame(value: bytes, headers: list[tuple[str, bytes]] = HEADERS) -> Frame:
    return Frame(value, b"k", list(headers), topic="raw", partition=3, offset=41)


def test_results_carry_only_the_whitelisted_headers() -> None:
    out = records_for([Outcome(_frame(b"\x01"), result=b"{}")], TOPICS, SETTINGS)
    assert [(r.topic, r.headers) for r in out] == [
        ("res", [("frame-id", b"f1"), ("protocol", b"modbus")])
    ]


def test_a_result_over_the_cap_becomes_a_dead_letter() -> None:
    big = b"{" + b" " * 10_000 + b"}"
    (rec,) = records_for([Outcome(_frame(b"\x01"), result=big)], TOPICS, SETTINGS)
    headers = dict(rec.headers)
    assert rec.topic == "dlq" and headers["error"] == b"oversized_output"
    assert rec.value == b"\x01" and rec.size <= SETTINGS.max_record_bytes


def test_a_dead_letter_that_would_not_fit_is_cut_to_a_stub() -> None:
    frame = _frame(b"\x02" * 20_000, [*HEADERS, ("x-big", b"h" * 9000)])
    (rec,) = records_for(
        [Outcome(frame, dead_letter=DeadLetter(frame, "oversized_frame", "too big"))],
        TOPICS,
        SETTINGS,
    )
    headers = dict(rec.headers)
    assert rec.value == b"" and rec.size <= SETTINGS.max_record_bytes
    assert headers["truncated"] == b"1" and headers["error"] == b"oversized_frame"
    assert (headers["original-topic"], headers["original-partition"]) == (b"raw", b"3")
    assert (headers["original-offset"], headers["original-bytes"]) == (b"41", b"20000")
    assert int(headers["original-header-bytes"]) > 9000
    assert headers["frame-id"] == b"f1" and "x-big" not in headers


@pytest.mark.integration
async def test_a_size_refusal_sends_the_stub_and_is_never_retried(
    kafka_bootstrap: str, unique_topic: Callable[..., Awaitable[str]]
) -> None:
    dlq = await unique_topic(1, "dlq")
    # A real producer whose request limit the whole dead letter exceeds (the cap let it pass).
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=16_384)
    await producer.start()
    calls: list[int] = []

    async def send(topic: str, key: bytes | None, value: bytes, headers: Any) -> Any:
        calls.append(len(value))
        return await producer.send(topic, value, key=key, headers=headers)

    frame = _frame(b"\x03" * 40_000)
    whole = dead_letter_record(DeadLetter(frame, "oversized_frame", "x"), dlq, 1 << 20)
    assert whole.stub_of is not None and whole.size > 16_384
    plain = Record(dlq, b"k", b"\x04" * 40_000, [])  # no stub to fall back on: given up
    try:
        await asyncio.wait_for(publish_outcomes([whole, plain], send), timeout=20)
    finally:
        await producer.stop()
    assert calls == [40_000, 40_000, 0]  # each big one tried once; then the stub alone
    async with TopicReader(kafka_bootstrap, dlq) as reader:
        (stub,) = await reader.until(lambda recs: len(recs) >= 1)
    headers = {k: bytes(v) for k, v in stub.headers}
    assert stub.value == b"" and headers["truncated"] == b"1"
    assert headers["original-bytes"] == b"40000"
