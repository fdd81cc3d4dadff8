"""Channel workers: a consumer group per channel sends that channel's due messages.

Per batch: claim every message's attempt in PostgreSQL (store/deliveries.py says which are
duplicates), render and send the rest (one order key's messages in order, different keys at
once), put each failure on the retry topic of its attempt (or, when the schedule is spent or the
failure is permanent, on the dead-letter topic), record every attempt, then commit. A message
that keeps failing (a poison message: a template that cannot render it) leaves its partition for
the retry topics at its first failure, so the messages behind it flow on.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from core.settings import Settings
from notifications.channels.port import Sender
from notifications.consuming import Records, consume, consumer
from notifications.messages import ATTEMPT_HEADER, DeliveryFailed, Message, Rendered, Sent, header
from notifications.outlet import Headers, Outlet, attempt_headers
from notifications.store import deliveries
from notifications.store.deliveries import Outcome
from notifications.store.subscriptions import addresses_of
from observability import metrics

log = logging.getLogger("vq.notifications.delivery")

Render = Callable[[Message], Awaitable[Rendered | None]]
# Messages of different order keys sent at once, per worker.
CONCURRENCY = 64
JITTER = 0.1  # each retry's delay is stretched or shrunk by up to this share


def attempt_of(headers: Sequence[tuple[str, bytes]]) -> int:
    value = header(headers, ATTEMPT_HEADER)
    return 1 if value is None else max(1, int(value))


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[Any],
        outlet: Outlet,
        senders: Mapping[str, Sender],
        render: Render,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings, self._pool, self._outlet = settings, pool, outlet
        self._senders, self._render, self._clock = senders, render, clock
        # Per channel: slow email sessions do not hold up webhooks (and the other way round).
        self._slots = {channel: asyncio.Semaphore(CONCURRENCY) for channel in senders}
        self._random = random.Random()

    def group(self, channel: str) -> str:
        return f"{self._settings.topic_prefix}-deliver-{channel}"

    async def run(self, stop: asyncio.Event) -> None:
        """One consumer group per channel this worker has a sender for."""
        await asyncio.gather(*(self._run_channel(channel, stop) for channel in self._senders))

    async def _run_channel(self, channel: str, stop: asyncio.Event) -> None:
        kafka = consumer(
            self._settings, self.group(channel), [self._settings.deliveries_topic(channel)]
        )
        await kafka.start()
        try:
            await consume(kafka, self.handle, stop)
        finally:
            await kafka.stop()

    async def handle(self, records: Records) -> None:
        arrivals = [
            (Message.decode(r.value), attempt_of(r.headers)) for r in records if r.value is not None
        ]
        claimed = await deliveries.claim(self._pool, arrivals)
        keyed: dict[str, list[tuple[Message, int]]] = {}
        for message, attempt in arrivals:
            if message.id in claimed:
                claimed.discard(message.id)  # the first of the batch's copies only
                keyed.setdefault(message.order_key, []).append((message, attempt))
        addresses = await addresses_of(
            self._pool, (i for g in keyed.values() for m, _ in g if (i := _unaddressed(m)))
        )
        results = await asyncio.gather(
            *(self._in_order(group, addresses) for group in keyed.values())
        )
        outcomes = [outcome for group in results for outcome, _ in group]
        onward = [record for group in results for _, record in group if record is not None]
        await self._outlet.publish(onward)  # before the rows say "retrying": nothing is lost
        await deliveries.settle(self._pool, outcomes)
        gone = [o for group in results for o, _ in group if o.outcome == "gone"]
        if gone:
            await deliveries.forget_gone(self._pool, [o.message_id for o in gone])

    async def _in_order(
        self, group: list[tuple[Message, int]], addresses: Mapping[str, str]
    ) -> list[tuple[Outcome, tuple[str, Message, Headers] | None]]:
        async with self._slots[group[0][0].channel]:
            return [await self._attempt(message, attempt, addresses) for message, attempt in group]

    async def _attempt(
        self, message: Message, attempt: int, addresses: Mapping[str, str]
    ) -> tuple[Outcome, tuple[str, Message, Headers] | None]:
        sender = self._senders[message.channel]
        try:
            addressed = _addressed(message, addresses)
            rendered = await self._render(addressed)
            sent = await sender.send(addressed, rendered)
        except DeliveryFailed as failure:
            return self._failed(message, attempt, failure)
        except Exception as exc:  # a bug in an adapter must not stop the partition
            log.exception("sending %s failed unexpectedly", message.id)
            return self._failed(message, attempt, DeliveryFailed(f"{type(exc).__name__}: {exc}"))
        return self._outcome(message, attempt, "delivered", "delivered", sent, None), None

    def _failed(
        self, message: Message, attempt: int, failure: DeliveryFailed
    ) -> tuple[Outcome, tuple[str, Message, Headers] | None]:
        delays = self._settings.retry_delays
        outcome = "gone" if failure.gone else "refused" if failure.permanent else "failed"
        if failure.permanent or attempt > len(delays):
            status, topic, headers = (
                "dead",
                self._settings.dead_letter_topic,
                attempt_headers(attempt, None, failure.reason),
            )
        else:
            delay = delays[attempt - 1] * (1 + self._random.uniform(-JITTER, JITTER))
            due = self._clock() + timedelta(seconds=delay)
            status, topic = "retrying", self._settings.retry_topic(attempt)
            headers = attempt_headers(attempt + 1, due, failure.reason)
        result = self._outcome(message, attempt, status, outcome, failure.sent, failure.reason)
        return result, (topic, message, headers)

    def _outcome(
        self,
        message: Message,
        attempt: int,
        status: str,
        outcome: str,
        sent: Sent | None,
        error: str | None,
    ) -> Outcome:
        metrics.delivered(message.channel, outcome)
        return Outcome(
            message_id=message.id,
            attempt=attempt,
            at=self._clock(),
            status=status,
            outcome=outcome,
            code=None if sent is None else sent.status,
            seconds=None if sent is None else sent.seconds,
            excerpt="" if sent is None else sent.excerpt[:2048],
            error=error,
        )


def _unaddressed(message: Message) -> str | None:
    """The subscription whose address the message is to be sent to, when it goes to a person's
    and carries none (an endpoint's, an alert's, or one made before addresses were left out
    carries its own)."""
    return None if message.to else message.subscription_id


def _addressed(message: Message, addresses: Mapping[str, str]) -> Message:
    """A message to a person's subscription carries no address, so that no topic record or
    delivery log keeps one: it is read from the subscription as the batch is sent (only for
    sending: retries and dead letters carry the message as it came). A subscription removed
    since (the person's data erased) makes the message gone."""
    if (subscription := _unaddressed(message)) is None:
        return message
    address = addresses.get(subscription)
    if address is None:
        raise DeliveryFailed("the subscription was removed (personal data erased)", gone=True)
    return replace(message, to=address)
