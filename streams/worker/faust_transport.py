"""faust's aiokafka transport with the worker consumer's fetch wait as a setting.

faust-streaming 0.15.3 creates the worker's ``AIOKafkaConsumer`` with ``fetch_max_wait_ms=1500``
fixed. A broker may hold a fetch for that whole wait when no record is there at the time of the
request: tansu does (measured with a plain aiokafka consumer at ~75 records/s: p50 394 ms with
1500 ms, 27 ms with 100 ms, 3 ms with 10 ms), and so every frame of light traffic waited up to
1.5 s before the worker saw it. Apache Kafka answers as soon as ``fetch_min_bytes`` arrived, so
there a short wait costs only more empty fetches while a partition is idle (one per wait per
broker connection).
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


def tuned_transport(app: faust.App, fetch_max_wait_ms: int) -> driver.Transport:
    """faust's aiokafka transport for ``app`` whose consumer waits at most ``fetch_max_wait_ms``."""

    class ConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # Read by AIOKafkaConsumer.start() when it builds its fetcher.
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class TunedConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class Transport(driver.Transport):
        Consumer = TunedConsumer

    return Transport(app.conf.broker_consumer, app)
