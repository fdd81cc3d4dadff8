"""`vq backup reclaim`: after a restore, put back the events Kafka has and the store lost.

A restore brings the store back to a moment; the relay may have published events committed after
it (the RPO window). Kafka keeps them (same event ids, versions, times, command ids): appended
again, each queue's stream is whole once more, no command reuses their versions, and consumers
that saw them stay right. Only the events of a queue that follow on from its restored version
without a gap are appended (an event lost from both stores would make the rest unappendable);
each queue in one transaction, through the store's append (so the ticket index is filled as for
a command). What Kafka cannot give back: the commands' idempotency records, and rows of other
tables (tenants, keys, people) written in that window.

Not for a restore made to undo something (`vq restore --to` before a bad change): reclaiming
would bring the undone events back. Run it with the app stopped (nothing else appending).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from core.settings import Settings
from deploy.errors import StackError
from domain.recorded import RecordedEvent
from eventstore.errors import EventStoreError
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.values import StreamAppend
from schemas.codec import decode, header_values
from service_layer.indexing import indexed

Say = Callable[[str], None]
READ_TIMEOUT_S = 120.0


@dataclass
class Found:
    messages: int = 0
    # queue id -> version -> event, only versions above the store's
    beyond: dict[str, dict[int, RecordedEvent]] = field(default_factory=dict)
    conflicts: set[str] = field(default_factory=set)  # two different events with one version


async def _store_state(store: PostgresEventStore) -> tuple[dict[str, int], datetime | None]:
    async with store.connection() as conn:
        cur = await conn.execute("SELECT stream_id::text, version FROM streams")
        versions = {str(row[0]): int(row[1]) for row in await cur.fetchall()}
        cur = await conn.execute("SELECT max(recorded_at) FROM events")
        row = await cur.fetchone()
    return versions, None if row is None else row[0]


async def scan(settings: Settings, since: datetime, versions: dict[str, int]) -> Found:
    """Read the events topic from `since` (message time) to its end now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    found = Found()
    try:
        topic = settings.events_topic
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        if not tps:
            raise StackError(f"topic {topic} not found on {settings.kafka_servers}")
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        for tp in tps:
            start = starts.get(tp)
            consumer.seek(tp, start.offset if start is not None else ends[tp])
        await _read_until(consumer, {tp: ends[tp] for tp in tps}, versions, found)
    finally:
        await consumer.stop()
    return found


async def _read_until(
    consumer: AIOKafkaConsumer,
    ends: dict[TopicPartition, int],
    versions: dict[str, int],
    found: Found,
) -> None:
    pending = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    deadline = time.monotonic() + READ_TIMEOUT_S
    while pending:
        if time.monotonic() > deadline:
            raise StackError(f"Kafka did not give the topic's end within {READ_TIMEOUT_S}s")
        batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
        for tp, messages in batches.items():
            for message in messages:
                if message.offset < ends[tp]:
                    _consider(message, versions, found)
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)


def _consider(message: Any, versions: dict[str, int], found: Found) -> None:
    found.messages += 1
    attributes = header_values(message.headers or ())
    queue_id = (message.key or b"").decode()
    version = int(attributes.get("ce_vqstreamversion", "0") or 0)
    if version <= versions.get(queue_id, 0):
        return
    recorded = decode(message.value, message.headers or ())
    seen = found.beyond.setdefault(queue_id, {})
    earlier = seen.get(version)
    if earlier is not None and earlier.event_id != recorded.event_id:
        found.conflicts.add(queue_id)
    seen[version] = recorded


def appends(found: Found, versions: dict[str, int]) -> tuple[list[StreamAppend], list[str]]:
    """One append per queue whose events follow its restored version; why the others do not."""
    made, refused = [], []
    for queue_id, events in sorted(found.beyond.items()):
        if queue_id in found.conflicts:
            refused.append(f"queue {queue_id}: two different events share a version in Kafka")
            continue
        base = versions.get(queue_id, 0)
        run: list[RecordedEvent] = []
        while base + len(run) + 1 in events:
            run.append(events[base + len(run) + 1])
        if len(run) < len(events):
            refused.append(
                f"queue {queue_id}: version {base + len(run) + 1} is in neither store; "
                f"{len(events) - len(run)} later events not reclaimed"
            )
        if run:
            append = StreamAppend(
                stream_id=queue_id,
                tenant_id=run[0].tenant_id,
                expected_version=base,
                records=run,
            )
            made.append(indexed(append))
    return made, refused


async def reclaim_and_report(settings: Settings, margin_s: float, dry_run: bool, say: Say) -> int:
    pool = await open_pool(settings, min_size=1, max_size=2, wait=True)
    try:
        store = PostgresEventStore(pool)
        versions, newest = await _store_state(store)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        since = max(epoch, (newest or epoch) - timedelta(seconds=margin_s))
        found = await scan(settings, since, versions)
        made, refused = appends(found, versions)
        events = sum(len(a.records) for a in made)
        say(
            f"read {found.messages:,} messages of {settings.events_topic} from {since.isoformat()}: "
            f"{events:,} events in {len(made)} queues are beyond the restored store"
        )
        for line in refused:
            say(f"  not reclaimed: {line}")
        if dry_run:
            return 1 if refused else 0
        appended, failed = 0, 0
        for append in made:
            try:
                await store.append([append])
                appended += len(append.records)
            except (EventStoreError, psycopg.Error) as exc:  # appended meanwhile; a lost tenant
                failed += 1
                say(f"  not reclaimed: queue {append.stream_id}: {exc}")
        say(f"appended {appended:,} events to {len(made) - failed} queues; {failed} failed")
        return 1 if failed or refused else 0
    finally:
        await pool.close()
