"""Reading a test's topic back, decoded with the project's codec."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

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


async def json_records(
    settings: Settings, topic: str, *, at_least: int = 0, timeout: float = 40.0
) -> list[dict[str, Any]]:
    """The JSON values on `topic` from the beginning: once `at_least` have come, until a second
    passes with nothing new (the notification topics: deliveries, retries, dead letters)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                if not batches and len(found) >= at_least:
                    return found
                for batch in batches.values():
                    found += [json.loads(r.value) for r in batch if r.value is not None]
    finally:
        await consumer.stop()
