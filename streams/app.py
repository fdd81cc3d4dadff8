"""The stream processors: a Faust app whose agent folds queue events into the Redis read models.

Faust owns what it is good at: the consumer group, partition ownership (one partition owns a
queue, so each queue is folded in order by exactly one worker) and offsets. The read models live
in Redis, not in Faust tables, so no changelog re-writes a long line on every event. Offsets are
committed only after the batch's Redis writes: `take_events` acks a batch when the loop body that
wrote it has finished, and Faust commits acked offsets only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import faust
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.settings import Settings
from domain.recorded import RecordedEvent
from eventstore.errors import StoreUnavailable
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from observability import logs, metrics, tracing
from projections.changes import QueueUpdate
from projections.layout import Keys
from projections.projector import Projector
from projections.writer import ReadModelWriter
from schemas import positions
from streams.dead_letters import DeadLetters
from streams.transport import ShortWaitTransport

log = logging.getLogger("vq.streams")

BATCH_MAX = 500
BATCH_WITHIN_S = 0.02
# A batch that Redis or PostgreSQL could not take is tried again after at most this long.
RETRY_MAX_S = 5.0
# How often a worker asks Redis whether it restarted, and how long one worker's check may take
# before another may do it (the check of a restart is done by one worker).
RESYNC_CHECK_S = 2.0
RESYNC_LEASE_S = 300
LOGGED_COMMANDS = 50  # a batch's line names at most this many of its commands
EXIT_UNFINISHED = 3  # the worker stopped as if killed (below)
# How long a stopping worker waits for the batch under way to be applied. One that cannot be
# (Redis or PostgreSQL away: it is retried until they answer) would hold the stop for ever:
# Faust waits for it, and, were the wait cut short, would ack the batch as it closes its stream,
# and commit it unapplied. So the worker ends there as if killed, which loses nothing: the batch
# is not committed, and the worker that takes the partition over applies it.
STOP_WAIT_S = 10.0
# How long a stopping worker waits for its pool's connections to close.
CLOSE_WAIT_S = 2.0
# The last turn of a stopping worker's loop, for the callbacks its stop left (mode waits 1 s).
SENTINEL_S = 0.05


class _App(faust.App):
    """Faust's app, whose stop does not wait for ever for a batch that cannot be applied."""

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        if not self.should_stop:  # a rebalance: the batch must end here, or two workers fold it
            await super()._consumer_wait_empty(consumer, logger)
            return
        # Not wait_for: its cancel of the wait would itself wait (Faust's wait swallows it).
        waiting = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        done, _ = await asyncio.wait({waiting}, timeout=STOP_WAIT_S)
        if waiting in done:
            waiting.result()
        else:
            log.warning(
                "stopping now, without the batch under way: not applied after %.0f s (Redis or "
                "PostgreSQL away); nothing of it is committed, the next worker applies it",
                STOP_WAIT_S,
            )
            logging.shutdown()
            os._exit(EXIT_UNFINISHED)

    async def on_shutdown(self) -> None:
        """Once the consumer and the agents stopped: the PostgreSQL pool and the Redis client
        closed (left open, their tasks held the worker's exit a second before being cancelled)."""
        await super().on_shutdown()
        state: dict[str, Any] = getattr(self, "vq_state", {})
        if "pool" in state:
            await state["pool"].close(timeout=CLOSE_WAIT_S)
        if "redis" in state:
            with contextlib.suppress(RedisError, OSError):
                await state["redis"].aclose()


class StreamWorker(faust.Worker):
    """Faust's worker, whose exit does not wait a fixed second after everything stopped."""

    async def _sentinel_task(self) -> None:
        # mode's last wait before it closes the loop (1 s): for callbacks the stop left on it,
        # which the app's own shutdown (connections closed) leaves few of.
        await asyncio.sleep(SENTINEL_S)


def create_app(settings: Settings) -> faust.App:
    # Faust keeps a small folder per app: under the data folder, not wherever it was started
    # (it makes only the last level of it).
    datadir = settings.data_dir / "faust" / settings.worker_group
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = _App(
        settings.worker_group,
        broker=f"kafka://{settings.kafka_servers}",
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        # No leader topic: auto-creation is off and we need no leader election.
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        # A worker that dies without a goodbye loses its partitions within seconds, not a minute.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        topic_partitions=settings.kafka_partitions,
        producer_acks=-1,
        # Batch the positions topic's messages a little instead of one write per message.
        producer_linger=0.005,
    )
    # Before anything asks for it (a topic's conductor does): Faust's transport with a short
    # fetch wait (streams/transport.py).
    app.transport = ShortWaitTransport(app.conf.broker_consumer, app)
    events = app.topic(
        settings.events_topic, key_serializer="raw", value_serializer="raw", internal=False
    )
    dead_letters = DeadLetters.of(app, settings)
    state: dict[str, Any] = {"lock": asyncio.Lock()}

    async def projector() -> Projector:
        if "projector" not in state:
            # Not waiting for a first connection: a PostgreSQL away at start is met by the batch
            # (retried until it answers, as when it goes away later), not a crash to restart.
            pool = await open_pool(settings, min_size=1, max_size=4)
            client = aioredis.Redis.from_url(settings.redis_dsn)
            state["pool"], state["redis"] = pool, client
            state["store"] = store = PostgresEventStore(pool)
            keys = Keys(settings.redis_prefix)
            state["projector"] = Projector(
                store,
                ReadModelWriter(client, keys),
                keys,
                retention_s=settings.analytics_retention_days * 86400,
            )
        found: Projector = state["projector"]
        return found

    @app.agent(events)
    async def project(stream: Any) -> AsyncIterator[None]:
        folding = await projector()
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            # What cannot be decoded or applied goes to the dead letters; the rest is folded.
            records, events = await dead_letters.decoded(batch)
            started = time.perf_counter()
            with _observed(events, records):
                async with state["lock"]:
                    updates = await dead_letters.applied(
                        lambda some: _applied(folding, some), records, events
                    )
                for update in updates:
                    await _announce(app.producer, settings.positions_topic, update)
            metrics.folded(len(records), time.perf_counter() - started)
            yield None

    @app.timer(interval=RESYNC_CHECK_S)  # type: ignore[untyped-decorator]
    async def resync() -> None:
        await _resync_after_restart(await projector(), state, Keys(settings.redis_prefix))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:
        # Another worker may fold these queues now: our cached states would go stale.
        if "projector" in state:
            state["projector"].forget_all()

    app.vq_state = state  # type: ignore[attr-defined]
    return app


async def _resync_after_restart(folding: Projector, state: dict[str, Any], keys: Keys) -> None:
    """After Redis restarted (a new run id), one worker checks every queue's read model against
    the store: a restart loses what Redis had not saved, and a queue with no new event would
    otherwise keep an old (or no) read model."""
    client: aioredis.Redis = state["redis"]
    try:
        run_id = str((await client.info("server"))["run_id"])
        if run_id == state.get("run_id"):
            return
        lease = keys.resync(run_id)
        if await client.set(lease, "1", nx=True, ex=RESYNC_LEASE_S):
            try:
                # A queue at a time under the batches' lock: they go on between two queues.
                streams = await state["store"].stream_versions()
                behind = await folding.resync(streams, state["lock"])
            except BaseException:
                with contextlib.suppress(RedisError, OSError):
                    await client.delete(lease)  # another worker, or this one, tries again
                raise
            log.log(
                logging.WARNING if behind else logging.INFO,
                "Redis run %s: %d read models were behind the event store",
                run_id,
                behind,
            )
        state["run_id"] = run_id
    except (RedisError, OSError, StoreUnavailable) as exc:
        log.warning("read models not checked against the store (%s); trying again", exc)


async def _applied(folding: Projector, records: list[RecordedEvent]) -> list[QueueUpdate]:
    """The batch applied, however long Redis or PostgreSQL take to answer again: an error that
    ended the agent would drop the batch (Faust restarts the agent after the events it had
    taken), and a queue with no later event would keep a stale read model."""
    pause = 0.1
    while True:
        try:
            return await folding.project(records)
        except (RedisError, OSError, StoreUnavailable) as exc:
            log.warning("batch not applied (%s); trying it again in %.1fs", exc, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)


@contextmanager
def _observed(batch: Sequence[Any], records: Sequence[RecordedEvent]) -> Iterator[None]:
    """The batch's trace span (tracing on; observability/tracing.py) and log context (its first
    event's tenant, queue and command), and a line naming its commands once it is applied."""
    if not records:
        yield
        return
    first = records[0]
    received = (event.message.headers for event in batch)  # read only when tracing is on
    with (
        tracing.consumed("vq.worker apply", received, len(batch)),
        logs.context(tenant=first.tenant_id, queue=first.queue_id, command_id=first.command_id),
    ):
        yield
        if log.isEnabledFor(logging.INFO):
            commands = list(dict.fromkeys(record.command_id for record in records))
            log.info(
                "applied %d events of %d commands",
                len(records),
                len(commands),
                extra={"events": len(records), "commands": commands[:LOGGED_COMMANDS]},
            )


async def _announce(producer: Any, topic: str, update: QueueUpdate) -> None:
    """Position and status changes to the positions topic (see schemas/positions.py), with the
    wait range of a waiting ticket when the batch recomputed it.

    Straight to the producer (Faust's own, so the commit of the batch's offsets, which flushes
    it first, comes after these are acked): a topic's `send` costs as much again in Faust's
    machinery per message."""
    for change in update.changes:
        occurred = datetime.fromisoformat(change.at)
        moved: list[tuple[str, str, int | None, str, str | None]] = [
            (m.ticket_id, m.number, m.position, "waiting", None) for m in change.shifted
        ]
        if change.ticket_id is not None and change.number is not None and change.status:
            moved.insert(
                0, (change.ticket_id, change.number, change.joined, change.status, change.counter)
            )
        for ticket_id, number, place, status, counter in moved:
            if status == "waiting" and place is None:
                continue  # waiting, position unchanged (e.g. a recall of someone else)
            eta = update.etas.get(ticket_id) if status == "waiting" else None
            key, value, headers = positions.encode(
                positions.PositionChanged(
                    tenant_id=update.tenant_id,
                    queue_id=update.queue_id,
                    ticket_id=ticket_id,
                    number=number,
                    stream_version=change.version,
                    occurred_at=occurred,
                    cause=change.type,
                    status=status,
                    position=place,
                    counter=counter,
                    **_range(eta),
                )
            )
            sent = await producer.send(topic, key, value, None, None, headers)
            sent.add_done_callback(_failed_send)


def _failed_send(sent: asyncio.Future[Any]) -> None:
    """A message the producer gave up on (after its retries): said, not swallowed."""
    if not sent.cancelled() and sent.exception() is not None:
        log.error("a positions message was not delivered: %s", sent.exception())


def _range(eta: dict[str, Any] | None) -> dict[str, Any]:
    if eta is None:
        return {}
    return {
        "call_p10_at": datetime.fromisoformat(eta["p10_at"]),
        "call_p50_at": datetime.fromisoformat(eta["p50_at"]),
        "call_p90_at": datetime.fromisoformat(eta["p90_at"]),
        "estimator": eta["estimator"],
    }
