"""The relay: publishes committed events from the events table (the outbox) to Kafka, in order.

Order: events are read in the store's global order (transaction id, position), which per stream is
version order, and produced by one idempotent producer, keyed by queue id, so each partition gets
each queue's events in version order. Progress: the checkpoint is saved only after Kafka acked
every event before it; after a crash the relay resumes from there, so an event can reach Kafka twice
(the same event id and version: consumers skip what they already applied) but never zero times.
Wake-up: appends NOTIFY at commit; the relay LISTENs and only falls back to a slow poll.
Leadership: one relay publishes at a time (a PostgreSQL advisory lock); others stand by.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from psycopg import AsyncConnection, sql

from eventstore.append import NOTIFY_CHANNEL_SQL
from eventstore.errors import StoreUnavailable
from eventstore.holders import UNNAMED, HeldWatch
from eventstore.leadership import Connect, lead, sleep_or_stop
from eventstore.port import EventStore
from eventstore.values import Position
from observability import metrics, tracing
from schemas.codec import encode
from topics.event_schemas import Publication, SchemaHeldBack

log = logging.getLogger("vq.relay")

# The relay's place in the checkpoints table (readiness measures its lag from it).
CHECKPOINT = "kafka-relay"
IDLE_POLL_S = 1.0
# While commits it heard of are still behind the horizon (an older transaction, anywhere on the
# server, is open), the relay looks again this soon, then twice as late each time up to
# HELD_POLL_MAX_S: their announcements came already, and nothing else would wake it once that
# transaction ends (a forgotten session holding it for hours costs a read a second, as idle).
HELD_POLL_S = 0.05
HELD_POLL_MAX_S = 1.0
# The checkpoint is saved at most this often while events flow (a statement per batch cost
# PostgreSQL and the relay a fifth of their work at 200 commands/s), and at once when the relay
# goes idle or stops. A crash publishes again at most this much: readers skip what they applied.
CHECKPOINT_EVERY_S = 0.25
# After a notification the new rows can still be hidden behind an older transaction that is
# running (the visibility horizon); look again soon, a few times, before going back to sleep.
HORIZON_RETRIES_S = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
# The newest transaction that wrote events (events_commit_order: one index entry read).
NEWEST_COMMIT_SQL = "SELECT max(transaction_id)::text FROM events"
# Tracing on: the trace context each append transaction kept (PostgresEventStore.trace_parents).
TraceParents = Callable[[Sequence[int]], Awaitable[dict[int, str]]]


def producer_config(bootstrap: str) -> dict[str, Any]:
    """The relay's producer settings; the benchmark measures raw Kafka with exactly these."""
    return {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "request_timeout_ms": 10_000,
        "client_id": "vq-relay",
    }


class Relay:
    def __init__(
        self,
        store: EventStore,
        connect: Connect,
        producer_factory: Callable[[], AIOKafkaProducer],
        topic: str,
        *,
        name: str = CHECKPOINT,
        batch_size: int = 1000,
        traces: TraceParents | None = None,
        schemas: Publication | None = None,
    ) -> None:
        self._store = store
        self._connect = connect
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._topic = topic
        self._name = name
        self._batch_size = batch_size
        self._traces = traces
        # The schema registry (topics/event_schemas.py): None publishes plain Avro, registers none.
        self._schemas = schemas
        self.published = 0
        self._held = HeldWatch(connect, log, "relay")

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, surviving PostgreSQL and Kafka outages."""
        backoff = 0.1
        while not stop.is_set():
            try:
                await lead(
                    self._connect,
                    "relay",
                    stop,
                    IDLE_POLL_S,
                    lambda conn: self._publish_until(stop, conn),
                )
                backoff = 0.1
            except (StoreUnavailable, KafkaError, OSError, TimeoutError) as exc:
                log.warning("relay paused: %s; retrying in %.1fs", exc, backoff)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)
            except psycopg.Error as exc:  # the dedicated (listen / leader) connection died
                log.warning("relay lost PostgreSQL: %s; retrying in %.1fs", exc, backoff)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 5.0)

    async def _publish_until(self, stop: asyncio.Event, conn: AsyncConnection[Any]) -> None:
        """As the leader: publish whatever commits, until `stop`."""
        stopping = asyncio.ensure_future(stop.wait())  # ends a wait for an announcement
        try:
            named = await (await conn.execute(NOTIFY_CHANNEL_SQL)).fetchone()
            channel = str(named[0]) if named else "vq_events"
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            # A fresh producer per leadership term: after a Kafka outage nothing of the old
            # producer's state (sequence numbers, a half-sent batch) is carried over.
            self._producer = self._producer_factory()
            await self._producer.start()
            if self._schemas is not None:
                await self._schemas.prepare()
            position = saved = await self._store.load_checkpoint(self._name)
            log.info("relay leading from %s", position)
            # Commits made before the LISTEN were announced to nobody: the newest of them
            # counts as announced, so that a relay started while an open transaction holds
            # them back says so (HeldWatch) without waiting for a commit after it.
            newest = await (await conn.execute(NEWEST_COMMIT_SQL)).fetchone()
            pending = int(newest[0]) if newest and newest[0] is not None else 0
            if pending:
                self._held.announced(pending)
            loop = asyncio.get_running_loop()
            due = loop.time() + CHECKPOINT_EVERY_S
            caught_up = False  # everything announced is published: wait, do not read again
            held_poll = HELD_POLL_S
            while not stop.is_set():
                count = 0
                if not caught_up:
                    position, count = await self._publish_batch(position)
                    if count:  # the hold moved: look again soon if it is still there
                        held_poll = HELD_POLL_S
                if position != saved and loop.time() >= due:
                    await self._store.save_checkpoint(self._name, position)
                    saved, due = position, loop.time() + CHECKPOINT_EVERY_S
                if count == self._batch_size:
                    continue
                if count == 0:
                    if position.transaction_id < pending:  # heard of, not read yet: held
                        within, held_poll = held_poll, min(2 * held_poll, HELD_POLL_MAX_S)
                    else:
                        within, held_poll = IDLE_POLL_S, HELD_POLL_S
                    await self._held.read_to(position.transaction_id)  # (going again: say so)
                    announced = await self._wait(conn, position, stopping, within)
                    caught_up = False
                    if announced is not None:
                        pending = max(pending, announced)
                        self._held.announced(announced)
                        position, count = await self._drain_behind_horizon(position, stop)
                        # The newest announced commit is out, and the read took all it saw:
                        # any later commit announces itself, so the next read waits for it.
                        caught_up = count < self._batch_size and (
                            position.transaction_id >= announced
                        )
                    elif position != saved:  # idle for IDLE_POLL_S: the checkpoint catches up
                        await self._store.save_checkpoint(self._name, position)
                        saved = position
                    await self._held.read_to(position.transaction_id)
            if position != saved:  # stopped: what Kafka acked is saved
                await self._store.save_checkpoint(self._name, position)
        finally:
            stopping.cancel()
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None

    async def _publish_batch(self, position: Position) -> tuple[Position, int]:
        batch = await self._store.read_all(position, self._batch_size)
        if not batch:
            return position, 0
        assert self._producer is not None
        traced = await self._traced(batch)
        futures = []
        for index, (place, recorded) in enumerate(batch):
            message = encode(recorded)
            try:
                value = self._value(recorded.event.TYPE, recorded.event.VERSION, message.value)
            except SchemaHeldBack as why:
                # Never an unreadable record, never one out of order: this event and the ones
                # after it wait until the registry takes the schema (retried, reported).
                assert self._schemas is not None
                await self._schemas.held_back(why)
                batch = batch[:index]
                break
            futures.append(
                await self._producer.send(
                    self._topic,
                    value=value,
                    key=message.key,
                    headers=traced.headers(place.transaction_id, message.headers),
                )
            )
        await traced.published(asyncio.gather(*futures))
        if not batch:
            return position, 0
        position = batch[-1][0]
        self.published += len(batch)
        metrics.RELAY_PUBLISHED.inc(len(batch))
        return position, len(batch)

    def _value(self, event_type: str, version: int, body: bytes) -> bytes:
        return body if self._schemas is None else self._schemas.value(event_type, version, body)

    async def _traced(self, batch: Sequence[tuple[Position, Any]]) -> tracing.Publication:
        """The batch's publish spans (tracing off: none, and no query)."""
        if self._traces is None:
            return tracing.UNTRACED
        parents = await self._traces([place.transaction_id for place, _ in batch])
        return tracing.Publication(parents, self._topic)

    async def _wait(
        self,
        conn: AsyncConnection[Any],
        position: Position,
        stopping: asyncio.Future[Any],
        within: float,
    ) -> int | None:
        """Sleep until a commit the relay has not published is announced (the newest announced
        transaction id) or `within` seconds have passed (None). The other announcements already
        received are taken too: one read serves them all (a busy store announces a commit every few
        milliseconds; each one taken alone would wake the relay for rows it has just published,
        and make it poll behind the horizon for nothing). An announcement names its transaction
        (migration 0019): one at or before `position`'s was published whole already (the relay
        reads only below the horizon, in transaction order, and waits only once nothing more is
        visible). `within`: the idle poll, or sooner while commits it heard of are behind the
        horizon (HELD_POLL_S and on). psycopg keeps what arrives between two waits for the next
        one. A `stop` set meanwhile (`stopping` done) ends the wait (None) at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (left := deadline - loop.time()) > 0:
            heard = await _first_heard(conn, left, stopping)
            if heard is None:
                return None
            newest = _newer(heard.payload, position, None)
            async for note in conn.notifies(timeout=0):
                newest = _newer(note.payload, position, newest)
            if newest is not None:
                return newest
        return None

    async def _drain_behind_horizon(
        self, position: Position, stop: asyncio.Event
    ) -> tuple[Position, int]:
        count = 0
        for delay in HORIZON_RETRIES_S:
            position, count = await self._publish_batch(position)
            if count or stop.is_set():
                return position, count
            await asyncio.sleep(delay)
        return position, count


async def _first_heard(
    conn: AsyncConnection[Any], left: float, stopping: asyncio.Future[Any]
) -> psycopg.Notify | None:
    """The next announcement within `left` seconds; None if none came or `stopping` was done
    first (the listen is then cancelled: the leader's connection is closed after a stop)."""
    heard: list[psycopg.Notify] = []

    async def listen() -> None:
        async for note in conn.notifies(timeout=left, stop_after=1):
            heard.append(note)

    listening = asyncio.ensure_future(listen())
    try:
        await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not listening.done():
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
    if not listening.cancelled():
        listening.result()  # its error, if it failed (the caller's to handle)
    return heard[0] if heard else None


def _newer(payload: str, position: Position, newest: int | None) -> int | None:
    """The newest announced transaction that may hold events after `position`, this
    announcement counted (one that names none may, and is newer than any)."""
    named = int(payload) if payload.isdigit() else UNNAMED
    if named <= position.transaction_id:
        return newest
    return named if newest is None else max(newest, named)
