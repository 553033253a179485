"""Topic names of a deployment, and creating missing topics (dev and test only).

Production topics are provisioned by the platform (partitions, retention, ACLs); a worker only
creates topics when ``CRONOS_KAFKA_CREATE_TOPICS`` is set, as the dev stack and tests do.
"""

from __future__ import annotations

import logging
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.worker.settings import KafkaSettings, WorkerSettings

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS: Final = 36  # Kafka error code


def topic_plan(kafka: KafkaSettings, settings: WorkerSettings) -> dict[str, int]:
    """Every topic the worker reads or writes, with the partition count it would create."""
    plan = {
        kafka.topic_raw: kafka.topic_partitions,
        kafka.topic_results: kafka.topic_partitions,
        kafka.topic_dlq: 1,
        # One partition: the control log is totally ordered.
        kafka.topic_control: 1,
        kafka.topic_control_events: 1,
    }
    for target in sorted(set(settings.routes.values())):
        plan.setdefault(kafka.translated_topic(target), kafka.topic_partitions)
    return plan


async def ensure_topics(kafka: KafkaSettings, plan: dict[str, int]) -> None:
    """Create the topics of ``plan`` that do not exist yet (replication factor 1).

    Raises:
        RuntimeError: The broker refused a topic for a reason other than "already exists".
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=kafka.bootstrap_servers, client_id="cronos", **kafka.client_auth()
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, num_partitions=p, replication_factor=1)
               for n, p in plan.items() if n not in existing]  # fmt: skip
        if not new:
            return
        response = await admin.create_topics(new)
    finally:
        await admin.close()
    for name, code, message in (e[:3] for e in response.topic_errors):
        if code not in (0, _TOPIC_ALREADY_EXISTS):
            raise RuntimeError(f"cannot create topic {name!r}: error {code} ({message})")
        log.info("created topic %s", name)
