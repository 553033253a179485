"""Kafka helpers every stage shares: creating topics, and reading a topic outside any group.

- :func:`ensure_topics` creates what is missing of a ``{topic: partitions}`` plan (dev and
  tests; production topics are provisioned by the platform).
- :func:`assign_all` is the pattern of a reader that must see every record of a topic, on every
  replica (the control topic, probes, event waiters): wait until the topic's partitions are in
  the metadata, assign them all, seek, and resolve the position before returning, so that
  anything produced afterwards is read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Final, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from streams.errors import KafkaSetupError

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS: Final = 36  # Kafka error code


async def ensure_topics(
    bootstrap: str | list[str],
    plan: Mapping[str, int],
    *,
    auth: Mapping[str, Any] | None = None,
    client_id: str = "cronos",
) -> list[str]:
    """Create the topics of ``plan`` (name → partitions) that do not exist yet.

    Replication factor 1: this is for the dev stack and tests (``CRONOS_KAFKA_CREATE_TOPICS``).

    Args:
        bootstrap: Broker list.
        plan: Topic name → partition count to create it with.
        auth: aiokafka authentication keyword arguments (``KafkaSettings.client_auth()``).
        client_id: Client id the broker logs.

    Returns:
        The names of the topics created (existing ones are left as they are).

    Raises:
        KafkaSetupError: The broker is unreachable or refused a topic for a reason other than
            "already exists" (the Kafka error is kept as ``__cause__``).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id, **(auth or {}))
    try:
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            new = [
                NewTopic(name, num_partitions=parts, replication_factor=1)
                for name, parts in plan.items()
                if name not in existing
            ]
            if not new:
                return []
            response = await admin.create_topics(new)
        finally:
            await admin.close()
    except KafkaError as exc:
        raise KafkaSetupError(f"cannot create topics {sorted(plan)}: {exc}") from exc
    created = []
    for name, code, message in (e[:3] for e in response.topic_errors):
        if code not in (0, _TOPIC_ALREADY_EXISTS):
            raise KafkaSetupError(f"cannot create topic {name!r}: error {code} ({message})")
        if code == 0:
            created.append(name)
            log.info("created topic %s", name)
    return created


async def assign_all(
    consumer: AIOKafkaConsumer,
    topic: str,
    *,
    seek: Literal["end", "beginning"] = "end",
    timeout_s: float = 30.0,
) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to a started, group-less consumer and seek.

    Args:
        consumer: A started ``AIOKafkaConsumer`` with ``group_id=None``.
        topic: The topic to read in full.
        seek: ``"end"``: read only what is produced from now on; ``"beginning"``: everything.
        timeout_s: How long to wait for the topic to appear in the metadata.

    Returns:
        The assigned partitions, in partition order.

    Raises:
        KafkaSetupError: The topic did not appear within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if not parts and topic in await consumer.topics():
            # The client's own metadata covers only the topics it tracks, so a topic created
            # after the consumer started stays unknown to partitions_for_topic until added.
            await consumer._client.add_topic(topic)
            parts = consumer.partitions_for_topic(topic)
        if parts:
            break
        if time.monotonic() > deadline:
            raise KafkaSetupError(f"topic {topic!r} does not exist (waited {timeout_s:g} s)")
        await asyncio.sleep(0.1)
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    if seek == "end":
        await consumer.seek_to_end(*tps)
    else:
        await consumer.seek_to_beginning(*tps)
    for tp in tps:
        await consumer.position(tp)  # resolve the lazy seek now
    return tps
