"""The topics a worker reads and writes, with the partition counts to create them with.

Production topics are provisioned by the platform (partitions, retention, ACLs); a worker only
creates topics when ``CRONOS_KAFKA_CREATE_TOPICS`` is set, as the dev stack and tests do, with
:func:`streams.kafka.ensure_topics` and this plan.
"""

from __future__ import annotations

from streams.worker.settings import KafkaSettings, WorkerSettings


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
