"""Kafka as readiness and the metrics see it: does it answer, and how far behind is a consumer
group (its committed offsets against the partitions' ends).

Two clients, made on first use and kept for the process (never a connection per probe): an admin
client (metadata, a group's committed offsets) and a consumer outside any group (the partitions'
first and end offsets; it never subscribes, so it never joins a group or fetches a record).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from core.kafka_reconnects import pace_reconnects
from observability.health import Lag

# A request the broker does not answer within this fails (the probe's own timeout is shorter;
# this only bounds what the clients keep waiting for in the background).
REQUEST_TIMEOUT_MS = 5_000
# After the clients could not start (Kafka down), this long before they are tried again: a probe
# in between says "unavailable" at once instead of connecting (and logging) again.
RETRY_S = 5.0


class TopicMissing(Exception):
    """The topic does not exist (or its metadata says an error)."""


class KafkaDown(Exception):
    """The clients could not start a moment ago; not tried again yet."""


class KafkaProbe:
    def __init__(self, bootstrap: str, topic: str, group: str, *, client_id: str) -> None:
        self._bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self._client_id = client_id
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._closing: asyncio.Future[None] | None = None  # a reference: not collected midway
        self._failed_at: float | None = None

    async def ping(self) -> None:
        """A metadata request: Kafka answers and the topic is there."""
        admin, _ = await self._clients()
        # Every topic's names, not the topic's own metadata: asking for a topic by name lets a
        # broker that auto-creates topics make it (with its default partitions).
        if self.topic not in await admin.list_topics():
            raise TopicMissing(self.topic)

    async def lag(self) -> Lag:
        """The group's lag on the topic, per partition and in all. A partition the group never
        committed counts from its first offset (the workers start from the earliest)."""
        partitions = await self._partitions()
        admin, consumer = await self._clients()
        committed = await admin.list_consumer_group_offsets(self.group, partitions=partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        positions = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        unread = [tp for tp in partitions if tp not in positions]
        if unread:
            positions.update(await consumer.beginning_offsets(unread))
        behind = {
            (tp.topic, tp.partition): max(0, ends[tp] - positions.get(tp, 0)) for tp in partitions
        }
        at = {(tp.topic, tp.partition): positions.get(tp, 0) for tp in partitions}
        return Lag(events=sum(behind.values()), partitions=behind, positions=at)

    async def aclose(self) -> None:
        async with self._lock:
            await _close(*self._detach())

    async def _partitions(self) -> list[TopicPartition]:
        await self.ping()  # it exists: describing it cannot create it
        admin, _ = await self._clients()
        topics: list[dict[str, Any]] = await admin.describe_topics([self.topic])
        found = [t for t in topics if t.get("topic") == self.topic and not t.get("error_code")]
        if not found:
            raise TopicMissing(self.topic)
        return sorted(TopicPartition(self.topic, p["partition"]) for p in found[0]["partitions"])

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._admin is None or self._consumer is None:
                if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_S:
                    raise KafkaDown(self._bootstrap)
                pace_reconnects()  # under the process's backoff (core/kafka_reconnects.py)
                try:
                    self._admin = AIOKafkaAdminClient(
                        bootstrap_servers=self._bootstrap,
                        client_id=self._client_id,
                        request_timeout_ms=REQUEST_TIMEOUT_MS,
                    )
                    await self._admin.start()
                    self._consumer = AIOKafkaConsumer(
                        bootstrap_servers=self._bootstrap,
                        client_id=self._client_id,
                        group_id=None,
                        enable_auto_commit=False,
                        request_timeout_ms=REQUEST_TIMEOUT_MS,
                    )
                    await self._consumer.start()
                except BaseException:
                    # Kafka is down (or the probe gave up): start afresh next time. Closed in
                    # the background: a probe that timed out must not wait for that too.
                    self._closing = asyncio.ensure_future(_close(*self._detach()))
                    self._failed_at = time.monotonic()
                    raise
                self._failed_at = None
            return self._admin, self._consumer

    def _detach(self) -> tuple[AIOKafkaAdminClient | None, AIOKafkaConsumer | None]:
        clients = self._admin, self._consumer
        self._admin = self._consumer = None
        return clients


async def _close(admin: AIOKafkaAdminClient | None, consumer: AIOKafkaConsumer | None) -> None:
    if consumer is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 2.0)
    if admin is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(admin.close(), 2.0)
