"""The worker's faust app hands its fetch wait to the aiokafka consumer faust creates."""

from __future__ import annotations

from pathlib import Path

from streams.worker.app import faust_app
from streams.worker.settings import KafkaSettings, WorkerSettings


async def test_the_frame_consumer_waits_at_most_the_configured_fetch_time(tmp_path: Path) -> None:
    kafka = KafkaSettings(broker="127.0.0.1:9", fetch_max_wait_ms=20)
    settings = WorkerSettings(data_dir=tmp_path, worker_id="w")
    app = faust_app(kafka, settings)
    # The consumer faust builds for the worker (not started: no broker is needed to read it).
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == 20
    assert KafkaSettings().fetch_max_wait_ms == 20  # the default, not faust's fixed 1500 ms
