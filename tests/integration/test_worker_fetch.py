"""The stream worker's Kafka consumer asks the broker to hold an empty fetch for a short while only
(streams/transport.py): Faust builds it with 1.5 s, not a setting, and a fetch of quiet partitions
then held the busy ones' records back that long (bench/README.md, section 22). The wait is set on
a private attribute of aiokafka's consumer, which its start() hands to the fetcher: this checks
that it still arrives there, on a consumer started against the real broker."""

from __future__ import annotations

from core.settings import Settings
from streams.app import create_app
from streams.transport import FETCH_MAX_WAIT_MS


async def test_the_workers_fetcher_waits_briefly_for_an_empty_fetch(settings: Settings) -> None:
    app = create_app(settings)
    thread = app.consumer._thread  # not started: the loop it made for itself is closed below
    try:
        kafka = thread._create_worker_consumer(app.transport)
        await kafka.start()
        try:
            assert FETCH_MAX_WAIT_MS <= 100
            assert kafka._fetcher._fetch_max_wait_ms == FETCH_MAX_WAIT_MS
        finally:
            await kafka.stop()
    finally:
        thread.thread_loop.close()
