"""Reading a test's topic back, decoded with the project's codec."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from core.settings import Settings
from domain.recorded import RecordedEvent
from schemas.codec import decode


async def consume_until(
    settings: Settings,
    topic: str,
    done: Callable[[list[RecordedEvent]], bool],
    *,
    timeout: float = 30.0,
) -> list[RecordedEvent]:
    """Every message of `topic` from the beginning, in partition order, until `done` says so."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    received: list[RecordedEvent] = []
    deadline = time.monotonic() + timeout
    try:
        while not done(received):
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(received)} messages arrived on {topic}")
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    assert record.key is not None and record.value is not None
                    event = decode(record.value, list(record.headers))
                    assert record.key.decode() == event.queue_id
                    received.append(event)
    finally:
        await consumer.stop()
    return received


def by_queue(events: list[RecordedEvent]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = {}
    for event in events:
        versions.setdefault(event.queue_id, []).append(event.stream_version)
    return versions


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)
