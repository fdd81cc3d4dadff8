"""The one consume loop every notification stage runs: fetch a batch, handle it, then commit.

Offsets are committed only after the batch was handled (its messages are on their next topic,
its state is in PostgreSQL), so a stage killed at any point reads the rest of its batch again;
what it then makes again has the same ids and is sent once. A batch that fails (PostgreSQL or
Kafka away) is read again from its first record after a pause that grows up to a few seconds:
nothing is skipped, and a stage outlives a dependency's restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from core.kafka_reconnects import pace_reconnects
from core.settings import Settings

log = logging.getLogger("vq.notifications")

Records = Sequence[ConsumerRecord[bytes, bytes]]
# Handles a batch. Its consumer's positions are committed after it (a stage that holds a record
# back seeks to it first: the commit then stops before it).
Handler = Callable[[Records], Awaitable[None]]

MAX_BACKOFF_S = 5.0


class MissingTopics(Exception):
    """Topics the stages need that Kafka does not have. Auto-creation is off: they are made by
    `vq stack up` or `vq stack topics`, never by a consumer."""


def missing_topics(settings: Settings, missing: Sequence[str]) -> str:
    named = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return (
        f"Kafka at {settings.kafka_servers} has no topic {named} "
        f"(VQ_TOPIC_PREFIX={settings.topic_prefix}): create them with `vq stack up` (the native "
        "stack) or `vq stack topics` (Compose, Kubernetes, a Kafka of your own), with the same "
        "VQ_TOPIC_PREFIX"
    )


async def wait_for_topics(
    settings: Settings, topics: Sequence[str], stop: asyncio.Event, wait_s: float | None = None
) -> None:
    """Return once Kafka has every topic, or `stop` is set; MissingTopics after `wait_s`
    (VQ_NOTIFIER_TOPICS_WAIT_S, 30 s: a consumer's own start waits as long, deaf to SIGTERM, then
    raises a bare UnknownTopicOrPartitionError). A Kafka that does not answer is left to the
    consumers, which wait for it as they always do."""
    if wait_s is None:
        wait_s = settings.notifier_topics_wait_s
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_servers,
        client_id=f"{settings.topic_prefix}-topics",
        request_timeout_ms=5_000,
    )
    try:
        await asyncio.wait_for(admin.start(), 10)
    except (KafkaError, OSError, TimeoutError):
        await admin.close()
        return
    deadline = asyncio.get_running_loop().time() + wait_s
    told = False
    try:
        while not stop.is_set():
            try:
                present = set(await admin.list_topics())
            except (KafkaError, OSError):
                return
            missing = [topic for topic in topics if topic not in present]
            if not missing:
                return
            if asyncio.get_running_loop().time() >= deadline:
                raise MissingTopics(missing_topics(settings, missing))
            if not told:
                log.warning("%s; waiting %.0fs for them", missing_topics(settings, missing), wait_s)
                told = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await admin.close()


def consumer(
    settings: Settings, group: str, topics: Sequence[str], **extra: Any
) -> AIOKafkaConsumer:
    # While Kafka is away, each consumer's loops would try it every 100 ms (core/kafka_reconnects).
    pace_reconnects()
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_servers,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # A stage that died without a goodbye loses its partitions within seconds.
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        max_poll_interval_ms=300_000,
        **extra,
    )


async def consume(
    kafka: AIOKafkaConsumer,
    handle: Handler,
    stop: asyncio.Event,
    *,
    max_records: int = 500,
    on_idle: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run until `stop` is set; the consumer must be started."""
    backoff = 0.2
    while not stop.is_set():
        batches = await kafka.getmany(timeout_ms=200, max_records=max_records)
        records = [record for batch in batches.values() for record in batch]
        if not records:
            if on_idle is not None:
                await on_idle()
            continue
        try:
            await handle(records)
            await kafka.commit()
        except Exception as exc:
            log.warning("batch of %d failed, read again in %.1fs: %r", len(records), backoff, exc)
            for tp, batch in batches.items():
                with contextlib.suppress(Exception):  # a partition revoked meanwhile
                    kafka.seek(tp, batch[0].offset)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        backoff = 0.2


async def periodically(
    stop: asyncio.Event, interval_s: float, work: Callable[[], Awaitable[object]], what: str
) -> None:
    """Do `work` every `interval_s` until `stop`; a round that fails (a dependency away) is
    logged and the next one tries again."""
    while not stop.is_set():
        try:
            await work()
        except Exception as exc:
            log.warning("%s: %r", what, exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
