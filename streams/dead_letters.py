"""The worker's dead letters: a record that cannot be decoded or applied is written, with why and
where it came from, to the dead-letter topic (topics/deadletters.py), and the partition goes on.

Never blocking a partition and never skipping silently: the dead letter is acknowledged by Kafka
before the batch that held the record is acknowledged (its offset committed), and it is counted
(`vq_dead_letters_total`) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from core.settings import Settings
from domain.recorded import RecordedEvent
from schemas.codec import decode
from schemas.errors import InvalidMessage, UnknownEventType
from topics import metrics
from topics.deadletters import Origin, Stage, headers_for, one_line

log = logging.getLogger("vq.streams.dead")

Apply = Callable[[list[RecordedEvent]], Awaitable[list[Any]]]


class DeadLetters:
    def __init__(self, topic: faust.TopicT, group: str) -> None:
        self._topic = topic
        self._group = group

    @classmethod
    def of(cls, app: faust.App, settings: Settings) -> DeadLetters:
        """The worker group's dead letters, on the events topic's dead-letter topic."""
        topic = app.topic(
            settings.events_dead_letter_topic,
            key_serializer="raw",
            value_serializer="raw",
            internal=False,
        )
        return cls(topic, settings.worker_group)

    async def send(self, message: Any, error: BaseException, stage: Stage) -> None:
        """Write the record behind `message` (a Faust message) to the dead-letter topic and wait
        for Kafka's acknowledgement."""
        origin = Origin(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp_ms=_millis(message.timestamp),
        )
        text = one_line(error)
        headers = headers_for(message.headers or [], origin, text, stage, self._group)
        sent = await self._topic.send(key=message.key, value=message.value, headers=headers)
        await sent
        metrics.DEAD_LETTERS.labels(stage).inc()
        log.warning(
            "dead letter (%s) from %s/%d/%d: %s",
            stage,
            origin.topic,
            origin.partition,
            origin.offset,
            text,
            extra={"stage": stage, "partition": origin.partition, "offset": origin.offset},
        )

    async def decoded(self, batch: Sequence[Any]) -> tuple[list[RecordedEvent], list[Any]]:
        """The batch's events, and the Faust events they came from; what does not decode goes
        to the dead letters."""
        records: list[RecordedEvent] = []
        kept: list[Any] = []
        for event in batch:
            message = event.message
            try:
                if message.value is None:
                    raise InvalidMessage("the record has no value")
                records.append(decode(message.value, message.headers or []))
            except (InvalidMessage, UnknownEventType) as error:
                await self.send(message, error, "decode")
                continue
            kept.append(event)
        return records, kept

    async def applied(
        self, apply: Apply, records: list[RecordedEvent], events: Sequence[Any]
    ) -> list[Any]:
        """`apply(records)`; when it fails for a reason that retrying will not cure (`apply`
        retries the transient ones itself), the records are applied one at a time and the one
        that fails goes to the dead letters. Applying again what the failed batch had applied
        changes nothing: each queue takes only its next stream version."""
        try:
            return await apply(records)
        except Exception as batch_error:  # anything else is a poison record in the batch
            log.warning("batch of %d not applied (%s); one by one", len(records), batch_error)
        updates: list[Any] = []
        for record, event in zip(records, events, strict=True):
            try:
                updates.extend(await apply([record]))
            except Exception as error:
                await self.send(event.message, error, "apply")
        return updates


def _millis(timestamp: float | None) -> int | None:
    """Faust gives the record's timestamp in seconds (a float)."""
    return None if timestamp is None else int(timestamp * 1000)
