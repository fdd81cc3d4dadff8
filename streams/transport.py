"""Faust's Kafka transport with a short fetch wait.

Faust (0.15) builds its aiokafka consumer with `fetch_max_wait_ms=1500`, not a setting. aiokafka
sends one fetch at a time to a broker, for the partitions whose records it does not hold unread:
when the worker is slow to take what it holds (a batch being folded) for longer than its prefetch
backoff (100 ms), the next fetch names only the partitions with nothing unread, and if none of
those gets a record, the broker holds that fetch for the whole wait while the busy partitions'
records pile up behind it. Measured at 400 commands/s (`BENCH_ONLY=propagation`): in 5 runs of 19
the read model's P99 passed 900 ms, in two the worker stayed 1.5 s behind with half a core idle,
and there every fetch named one partition and took 1.5 s (bench/README.md, section 22). With a
short wait a fetch of quiet partitions comes back within it; an idle worker asks the broker ten
times a second.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as driver

FETCH_MAX_WAIT_MS = 100


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by the consumer's start(), which builds its fetcher (aiokafka 0.14).
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ShortWaitTransport(driver.Transport):
    Consumer = _Consumer
