"""A stand-in for the worker where a run is about ingest and egress, not detection.

:func:`translate_raw` translates the raw frames that carry a ``target: mqtt`` header with the
default edge rules, or the rule set it is given (engine code, the same the worker runs, reading
the same headers), and writes them to the translated topic. The edge tests and
``bench/edge_e2e.py`` use it to measure the adapters alone.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from engine.llm.translation_studio import ProtocolTranslationStudio
from engine.translation.rules import TranslationRules
from streams.edge.default_rules import modbus_to_mqtt_rules
from streams.worker.translator import block_context


async def translate_raw(
    bootstrap: str, raw_topic: str, out_topic: str, rules: TranslationRules | None = None
) -> None:
    """Translate raw frames that carry a ``target`` header into ``out_topic`` (until cancelled).

    ``rules`` defaults to :func:`~streams.edge.default_rules.modbus_to_mqtt_rules`.
    """
    studio = ProtocolTranslationStudio()
    studio.activate_rules(rules or modbus_to_mqtt_rules())
    consumer = AIOKafkaConsumer(
        raw_topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            futures = []
            for rec in (r for recs in batch.values() for r in recs):
                if dict(rec.headers).get("target") != b"mqtt":
                    continue
                headers = [(k, bytes(v)) for k, v in rec.headers]
                context = block_context(headers)
                out = studio.translate_sync("modbus", "mqtt", rec.value or b"", context)
                futures.append(
                    await producer.send(out_topic, out, key=rec.key, headers=list(rec.headers))
                )
            await asyncio.gather(*futures)
    finally:
        await consumer.stop()
        await producer.stop()
