"""The two baselines of ``bench/e2e_throughput.py``, each run as a process of its own.

* ``raw``: a plain aiokafka consume → produce loop: ``getmany`` up to 512 records, send each to
  the output topic (``acks=all``), await every ack of the batch, commit, repeat.
* ``faust``: a bare faust agent with faust's defaults: ``take_events(512, within=0.05)``,
  ``app.producer.send`` per event, acks awaited per batch. It does no ML.

Both pass key, value and headers through unchanged, so an outcome on the output topic can be
matched to its frame by the ``frame-id`` header.

Run: ``python bench/e2e_contenders.py {raw,faust} --bootstrap H:P --src T --dst T --group G``
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from typing import Any

BATCH = 512


async def raw_loop(bootstrap: str, src: str, dst: str, group: str) -> None:
    """Consume ``src`` and produce every record to ``dst`` until killed."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        src,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    await producer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            futures = [
                await producer.send(dst, r.value, key=r.key, headers=list(r.headers))
                for records in batches.values()
                for r in records
            ]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def faust_agent(bootstrap: str, src: str, dst: str, group: str) -> None:
    """A bare faust agent passing ``src`` to ``dst`` (blocks; faust owns the loop)."""
    import faust

    app = faust.App(
        group,
        broker=f"kafka://{bootstrap}",
        autodiscover=False,
        web_enabled=False,
        datadir=tempfile.mkdtemp(prefix="faust-bench-"),
        topic_allow_declare=False,
        topic_disable_leader=True,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(
        src, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    async def passthrough(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=0.05):
            futures = [
                await app.producer.send(
                    dst,
                    e.message.key,
                    e.message.value,
                    None,
                    None,
                    list(e.message.headers or []),
                )
                for e in events
            ]
            await asyncio.gather(*futures)

    app.agent(topic, name="passthrough")(passthrough)
    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("raw", "faust"))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--src", required=True)
    parser.add_argument("--dst", required=True)
    parser.add_argument("--group", required=True)
    args = parser.parse_args()
    if args.kind == "raw":
        asyncio.run(raw_loop(args.bootstrap, args.src, args.dst, args.group))
    else:
        faust_agent(args.bootstrap, args.src, args.dst, args.group)


if __name__ == "__main__":
    main()
