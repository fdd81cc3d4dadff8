"""Channel workers: a consumer group per channel sends that channel's due messages.

Per batch: claim every message's attempt in PostgreSQL (store/deliveries.py says which are
duplicates), render and send the rest (one order key's messages in order, different keys at
once), put each failure on the retry topic of its attempt (or, when the schedule is spent or the
failure is permanent, on the dead-letter topic), record every attempt, then commit. A message
that keeps failing (a poison message: a template that cannot render it) leaves its partition for
the retry topics at its first failure, so the messages behind it flow on.

A message to a person is checked at every attempt against its subscription as it stands then,
and the time (obsolete.py): one that no longer holds (the person unsubscribed, the ticket was
called or left, the time to come back by has passed) is recorded as `obsolete` and not sent, nor
tried again. Its ticket's link carries no token on the topics or in the delivery state (the token
cancels the ticket): it is added here, for sending only.
A provider that says the person opted out (Twilio's 21610) stops that number's subscriptions.
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

from core.kafka_start import started
from core.settings import Settings
from core.tokens import ticket_token
from notifications.channels.port import Sender
from notifications.consuming import Records, consume, consumer
from notifications.messages import ATTEMPT_HEADER, DeliveryFailed, Message, Rendered, Sent, header
from notifications.obsolete import obsolete
from notifications.outlet import Headers, Outlet, attempt_headers
from notifications.store import deliveries
from notifications.store.deliveries import Outcome
from notifications.store.optout import stop_number
from notifications.store.watches import Standing, standings
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
        topics = [self._settings.deliveries_topic(channel)]
        group = self.group(channel)
        kafka = await started(lambda: consumer(self._settings, group, topics), stop, group)
        if kafka is None:
            return
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
        # After the claim: a closing message ("it's your turn") of this very batch is there too.
        found = await standings(
            self._pool, (i for g in keyed.values() for m, _ in g if (i := _to_person(m)))
        )
        results = await asyncio.gather(*(self._in_order(group, found) for group in keyed.values()))
        outcomes = [_resend(outcome, claimed.again) for group in results for outcome, _ in group]
        onward = [record for group in results for _, record in group if record is not None]
        await self._outlet.publish(onward)  # before the rows say "retrying": nothing is lost
        await deliveries.settle(self._pool, outcomes)
        gone = [o for group in results for o, _ in group if o.outcome == "gone"]
        if gone:
            await deliveries.forget_gone(self._pool, [o.message_id for o in gone])

    async def _in_order(
        self, group: list[tuple[Message, int]], found: Mapping[str, Standing]
    ) -> list[tuple[Outcome, tuple[str, Message, Headers] | None]]:
        async with self._slots[group[0][0].channel]:
            return [await self._attempt(message, attempt, found) for message, attempt in group]

    async def _attempt(
        self, message: Message, attempt: int, found: Mapping[str, Standing]
    ) -> tuple[Outcome, tuple[str, Message, Headers] | None]:
        sender = self._senders[message.channel]
        token = None
        sending = message
        try:
            standing = _standing(message, found)
            why = None if standing is None else obsolete(message, standing, self._clock())
            if why is not None:
                return self._outcome(message, attempt, "obsolete", "obsolete", None, why), None
            sending, token = with_token(_addressed(message, standing), self._settings.token_secret)
            rendered = await self._render(sending)
            sent = await sender.send(sending, rendered)
        except DeliveryFailed as failure:
            if failure.opted_out:
                await self._opted_out(sending)
            return self._failed(message, attempt, _hidden(failure, token))
        except Exception as exc:  # a bug in an adapter must not stop the partition
            log.exception("sending %s failed unexpectedly", message.id)
            unexpected = DeliveryFailed(f"{type(exc).__name__}: {exc}")
            return self._failed(message, attempt, _hidden(unexpected, token))
        sent = _hidden_in(sent, token)
        return self._outcome(message, attempt, "delivered", "delivered", sent, None), None

    async def _opted_out(self, sending: Message) -> None:
        """The provider says the person opted out (they replied STOP): every subscription of
        that address on that channel is stopped, as the STOP itself would have. A failure here
        is logged, not raised: the message is dead either way, and the next message to the
        number meets the same answer and tries again."""
        if not sending.to:
            return
        try:
            ended = await stop_number(self._pool, sending.channel, sending.to)
        except Exception:
            log.exception("could not stop the subscriptions of an opted-out %s", sending.channel)
            return
        log.info(
            "the provider says the recipient opted out: %d %s subscription(s) stopped",
            len(ended),
            sending.channel,
            extra={"subscriptions": [sid for _, sid in ended]},
        )

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


def _resend(outcome: Outcome, again: frozenset[str]) -> Outcome:
    """An attempt made again after a worker stopped mid-batch is a resend only if it went out
    and was answered (delivered, or a status came back): one found obsolete, not called (a
    circuit open, a subscription erased) or not rendered reached nobody a second time."""
    answered = outcome.outcome == "delivered" or outcome.code is not None
    if outcome.message_id in again and answered:
        return replace(outcome, resent=True)
    return outcome


def _to_person(message: Message) -> str | None:
    """The subscription of a message to a person (an endpoint's and an alert's have none)."""
    return None if message.channel == "webhook" else message.subscription_id


def _standing(message: Message, found: Mapping[str, Standing]) -> Standing | None:
    """The subscription of a message to a person, as it stands; None for the others. A
    subscription removed since (the person's data erased) makes the message gone."""
    if (subscription := _to_person(message)) is None:
        return None
    standing = found.get(subscription)
    if standing is None:
        raise DeliveryFailed("the subscription was removed (personal data erased)", gone=True)
    return standing


def _addressed(message: Message, standing: Standing | None) -> Message:
    """A message to a person's subscription carries no address, so that no topic record or
    delivery log keeps one: it is read from the subscription as the batch is sent (only for
    sending: retries and dead letters carry the message as it came). One made before addresses
    were left out carries its own."""
    if standing is None or message.to:
        return message
    return replace(message, to=standing.address)


def with_token(message: Message, secret: str) -> tuple[Message, str | None]:
    """The message with its ticket's token in its link (the fragment of the ticket's page,
    `#token=`), and the token, so that what comes back (a provider echoes the text) is recorded
    without it. A link with a fragment already (a record made before the token was left out of
    the topics) stays as it is."""
    url, ticket = message.data.get("ticket_url"), message.ticket_id
    if not isinstance(url, str) or ticket is None:
        return message, None
    token = ticket_token(secret, ticket)
    if not url.endswith(f"/t/{ticket}"):
        return message, token
    return replace(message, data={**message.data, "ticket_url": f"{url}#token={token}"}), token


def _hidden_in(sent: Sent, token: str | None) -> Sent:
    """What the other side answered, without the ticket's token (a provider echoes the text)."""
    if not token or token not in sent.excerpt:
        return sent
    return replace(sent, excerpt=sent.excerpt.replace(token, "***"))


def _hidden(failure: DeliveryFailed, token: str | None) -> DeliveryFailed:
    """The failure without the ticket's token: its reason goes on the retry record's header and
    into the delivery log."""
    if not token:
        return failure
    return DeliveryFailed(
        failure.reason.replace(token, "***"),
        permanent=failure.permanent,
        gone=failure.gone,
        opted_out=failure.opted_out,
        sent=None if failure.sent is None else _hidden_in(failure.sent, token),
    )
