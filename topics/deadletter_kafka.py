"""Reading and re-driving the dead-letter topic (`vq deadletters list|replay`)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from core.settings import Settings
from topics.deadletters import DeadLetter, group_of, parse

POLL_MS = 500


class ReplayRefused(ValueError):
    """A dead letter whose origin is not a topic this product's workers read."""


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=group_of(settings.topic_prefix),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=f"{settings.topic_prefix}-deadletters",
    )


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            raise LookupError(f"topic {topic} does not exist; run `vq stack topics`")
        described: list[dict[str, Any]] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        TopicPartition(topic, p["partition"])
        for t in described
        if t.get("topic") == topic
        for p in t["partitions"]
    )


async def _read(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], pending_only: bool, limit: int
) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
    """The dead letters (after the group's offsets when `pending_only`), oldest first per
    partition, and the offset after the last one read in each partition."""
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    starts = await consumer.beginning_offsets(partitions)
    found: list[DeadLetter] = []
    after: dict[TopicPartition, int] = {}
    for tp in partitions:
        committed = await consumer.committed(tp) if pending_only else None
        start = max(committed if committed is not None else 0, starts[tp])
        if start >= ends[tp] or len(found) >= limit:
            continue
        consumer.seek(tp, start)
        position = start
        while position < ends[tp] and len(found) < limit:
            batch = await consumer.getmany(tp, timeout_ms=POLL_MS, max_records=limit - len(found))
            for record in batch.get(tp, []):
                if record.offset >= ends[tp]:
                    break
                found.append(
                    parse(tp.partition, record.offset, record.key, record.value, record.headers)
                )
                position = record.offset + 1
        after[tp] = position
    return found, after


async def list_dead_letters(
    settings: Settings, *, pending_only: bool = True, limit: int = 1000
) -> list[DeadLetter]:
    partitions = await _partitions(settings, settings.events_dead_letter_topic)
    consumer = _consumer(settings)
    await consumer.start()
    try:
        found, _ = await _read(consumer, partitions, pending_only, limit)
        return found
    finally:
        await consumer.stop()


async def replay(settings: Settings, *, limit: int = 1000) -> list[DeadLetter]:
    """Write the pending dead letters back to their topic as they were, then mark them replayed
    (the group's offsets). A crash between the two replays them again: at least once, as
    everywhere in the pipeline (the workers skip what they already applied)."""
    partitions = await _partitions(settings, settings.events_dead_letter_topic)
    consumer = _consumer(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers, enable_idempotence=True, acks="all"
    )
    await consumer.start()
    await producer.start()
    try:
        found, after = await _read(consumer, partitions, True, limit)
        allowed = {settings.events_topic}
        for letter in found:
            if letter.origin.topic not in allowed:
                raise ReplayRefused(
                    f"dead letter {letter.partition}/{letter.offset} came from "
                    f"{letter.origin.topic!r}, not from {settings.events_topic}"
                )
        sent = [
            await producer.send(
                letter.origin.topic, key=letter.key, value=letter.value, headers=letter.headers
            )
            for letter in found
        ]
        for future in sent:
            await future
        if after:
            await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in after.items()})
        return found
    finally:
        await producer.stop()
        await consumer.stop()
