"""The retry relay: holds failed messages on their retry topic until due, then puts them back.

One topic per retry (`vq.deliveries.retry-N` holds messages waiting for their N+1-th attempt),
so every record on a topic waits the same delay and they fall due in the order they were
written: the relay looks at the head of each partition only. A head not yet due pauses its
partition (the relay seeks back to it and stops fetching there) until the moment it is due; the
records that were due go back onto their channel's delivery topic, headers and all, and only then
are the offsets committed. Kafka keeps the waiting messages, not this process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError

from core.kafka_start import started
from core.settings import Settings
from notifications.consuming import Records, consume, consumer
from notifications.messages import DUE_HEADER, Message, header
from notifications.outlet import Headers, Outlet


def due_of(headers: Sequence[tuple[str, bytes]]) -> datetime | None:
    value = header(headers, DUE_HEADER)
    return None if value is None else datetime.fromisoformat(value.decode())


class RetryRelay:
    def __init__(self, settings: Settings, outlet: Outlet, clock: Callable[[], datetime]) -> None:
        self._settings, self._outlet, self._clock = settings, outlet, clock
        self._paused: dict[TopicPartition, datetime] = {}
        self._kafka: AIOKafkaConsumer | None = None

    @property
    def group(self) -> str:
        return f"{self._settings.topic_prefix}-deliver-retry"

    def topics(self) -> list[str]:
        return [
            self._settings.retry_topic(n) for n in range(1, len(self._settings.retry_delays) + 1)
        ]

    async def run(self, stop: asyncio.Event) -> None:
        self._kafka = await started(
            lambda: consumer(self._settings, self.group, self.topics()), stop, self.group
        )
        if self._kafka is None:
            return
        try:
            await consume(self._kafka, self.handle, stop, on_idle=self._wake)
        finally:
            await self._kafka.stop()

    async def _wake(self) -> None:
        """Resume the partitions whose head is due now."""
        if self._kafka is None:
            return
        now = self._clock()
        ready = [tp for tp, due in self._paused.items() if due <= now]
        for tp in ready:
            del self._paused[tp]
            # A rebalance may have taken it away meanwhile (its new owner starts from the
            # committed offset, the held record's): nothing to resume then.
            with contextlib.suppress(IllegalStateError):
                self._kafka.resume(tp)

    async def handle(self, records: Records) -> None:
        now = self._clock()
        onward: list[tuple[str, Message, Headers]] = []
        held: set[TopicPartition] = set()
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp in held or record.value is None:
                continue
            due = due_of(record.headers)
            if due is not None and due > now:
                held.add(tp)
                self._hold(tp, record.offset, due)
                continue
            message = Message.decode(record.value)
            topic = self._settings.deliveries_topic(message.channel)
            onward.append((topic, message, list(record.headers)))
        await self._outlet.publish(onward)
        await self._wake()

    def _hold(self, tp: TopicPartition, offset: int, due: datetime) -> None:
        assert self._kafka is not None
        self._kafka.seek(tp, offset)  # read it again once due; the commit stops before it
        self._kafka.pause(tp)
        self._paused[tp] = due
