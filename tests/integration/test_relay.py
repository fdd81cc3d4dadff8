"""The relay: every committed event reaches Kafka, per queue in version order, through outages."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from psycopg.conninfo import make_conninfo

from core.settings import Settings
from eventstore import holders
from eventstore import relay as relay_module
from eventstore.pool import connect, open_pool
from eventstore.postgres import PostgresEventStore
from eventstore.relay import Relay, producer_config
from tests.integration.kafka_support import by_queue, consume_until, wait_for
from tests.integration.test_eventstore import append, created, enqueued


def relay_for(settings: Settings, store: PostgresEventStore, bootstrap: str | None = None) -> Relay:
    servers = bootstrap or settings.kafka_servers
    return Relay(
        store,
        lambda: connect(settings),
        lambda: AIOKafkaProducer(**producer_config(servers)),
        settings.events_topic,
    )


async def fill(
    store: PostgresEventStore, tenant_id: str, queues: int, per_queue: int, pause: float = 0.0
) -> int:
    """Append concurrently to several queues; returns how many events were appended."""

    async def one_queue() -> None:
        queue_id = str(uuid.uuid4())
        await append(store, queue_id, tenant_id, 0, [created(queue_id, tenant_id)])
        for n in range(1, per_queue):
            await append(store, queue_id, tenant_id, n, [enqueued(n)])
            await asyncio.sleep(pause)

    await asyncio.gather(*(one_queue() for _ in range(queues)))
    return queues * per_queue


async def received_then_stopped(
    settings: Settings, total: int, stop: asyncio.Event, task: asyncio.Task[None]
) -> list[Any]:
    """The topic's messages once `total` have come; then the relay stopped."""
    received = await consume_until(settings, settings.events_topic, lambda r: len(r) >= total)
    stop.set()
    await asyncio.wait_for(task, 10)
    return received


def assert_complete_and_ordered(received: list[Any], queues: int, per_queue: int) -> None:
    versions = by_queue(received)
    assert len(versions) == queues
    for seen in versions.values():
        # Redelivery after a crash may repeat a run of versions, but never reorders or skips.
        deduplicated = [v for i, v in enumerate(seen) if v not in seen[:i]]
        assert deduplicated == list(range(1, per_queue + 1)), seen
        # ...and a message never jumps ahead of the versions delivered so far.
        assert all(v <= max(seen[:i], default=0) + 1 for i, v in enumerate(seen)), seen


async def test_relay_publishes_every_event_in_version_order(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    stop = asyncio.Event()
    relay = relay_for(settings, store)
    task = asyncio.create_task(relay.run(stop))
    total = await fill(store, tenant_id, queues=8, per_queue=25)
    received = await consume_until(
        settings,
        settings.events_topic,
        lambda r: len({(e.queue_id, e.stream_version) for e in r}) >= total,
    )
    stop.set()
    await asyncio.wait_for(task, 10)
    # A send that fails part-way (a fresh topic's leaders still being elected) is retried from
    # the checkpoint: the contract allows redelivery of the same events, nothing else.
    assert relay.published >= total
    assert_complete_and_ordered(received, 8, 25)
    # Each message names its event type and version in CloudEvents headers; decode checked them.
    assert {r.event_type for r in received} == {"QueueCreated", "TicketEnqueued"}


async def test_an_idle_relay_stops_when_asked_not_at_its_next_poll(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    topics: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A relay waiting for the next commit ends at a stop (a SIGTERM), however long its idle
    poll: a stopping relay used to wait the poll out (a second, and up to it at every stop)."""
    monkeypatch.setattr(relay_module, "IDLE_POLL_S", 120.0)
    caplog.set_level(logging.INFO, logger=relay_module.log.name)
    waiting = asyncio.Event()  # set once a relay is in its wait for an announcement
    heard = relay_module._first_heard

    async def first_heard(*args: Any, **kwargs: Any) -> Any:
        waiting.set()
        return await heard(*args, **kwargs)

    monkeypatch.setattr(relay_module, "_first_heard", first_heard)
    stop = asyncio.Event()
    relay = relay_for(settings, store)
    task = asyncio.create_task(relay.run(stop))
    received = await received_then_stopped(settings, await fill(store, tenant_id, 1, 3), stop, task)
    assert_complete_and_ordered(received, 1, 3)  # and it stopped: waited for within 10 s
    # Leading again, idle from the start: waits for an announcement; stops without one.
    stop = asyncio.Event()
    relay = relay_for(settings, store)
    task = asyncio.create_task(relay.run(stop))
    waiting.clear()
    await wait_for(lambda: caplog.text.count("relay leading from") == 2, 30)
    await asyncio.wait_for(waiting.wait(), 30)  # in its wait for an announcement
    stop.set()
    await asyncio.wait_for(task, 10)
    assert relay.published == 0


async def test_commands_are_accepted_while_kafka_is_unreachable(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    """Kafka is away (nothing listens where the relay looks): appends go on; later all arrive."""
    stop = asyncio.Event()
    dead = relay_for(settings, store, bootstrap="127.0.0.1:9")
    task = asyncio.create_task(dead.run(stop))
    total = await fill(store, tenant_id, queues=4, per_queue=10)
    await asyncio.sleep(1.0)
    assert dead.published == 0
    stop.set()
    await asyncio.wait_for(task, 15)

    stop = asyncio.Event()
    relay = relay_for(settings, store)
    task = asyncio.create_task(relay.run(stop))
    received = await received_then_stopped(settings, total, stop, task)
    assert_complete_and_ordered(received, 4, 10)


@pytest.fixture
async def warm_store(settings: Settings) -> AsyncIterator[PostgresEventStore]:
    """A store whose pool holds a connection for each of `fill`'s writers from the start, and
    waits for one as long as the test would: with the suite's load on the shared PostgreSQL, a
    connection made mid-test took over the pool's 2 s (PoolTimeout in the writer, not the
    relay)."""
    pool = await open_pool(settings, min_size=8, max_size=8, wait=True)
    pool.timeout = 20.0
    try:
        yield PostgresEventStore(pool)
    finally:
        await pool.close()


async def test_relay_killed_mid_stream_resumes_without_loss(
    settings: Settings, warm_store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    store = warm_store
    env = {
        **os.environ,
        "VQ_DATABASE_URL": settings.pg_url,
        "VQ_DB_SCHEMA": settings.db_schema,
        "VQ_KAFKA_BOOTSTRAP": settings.kafka_servers,
        "VQ_TOPIC_PREFIX": settings.topic_prefix,
    }
    command = [sys.executable, "-m", "vq.cli", "relay"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def relayed() -> int:
        """How many events the relay's durable checkpoint says reached Kafka."""
        checkpoint = await store.load_checkpoint("kafka-relay")
        async with store.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM events WHERE (transaction_id, global_position) <= "
                "(%s::text::xid8, %s)",
                (str(checkpoint.transaction_id), checkpoint.global_position),
            )
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    relay = start()
    # The relay is publishing before the writer starts (a slow start on a busy machine would
    # otherwise let the writer finish first, and the relay publish everything in one go).
    warm_up = str(uuid.uuid4())
    await append(store, warm_up, tenant_id, 0, [created(warm_up, tenant_id)])
    await consume_until(settings, settings.events_topic, lambda r: len(r) >= 1)
    writer = asyncio.create_task(fill(store, tenant_id, queues=6, per_queue=60, pause=0.02))
    await consume_until(
        settings, settings.events_topic, lambda r: sum(e.queue_id != warm_up for e in r) >= 40
    )
    relay.send_signal(signal.SIGKILL)
    relay.communicate(timeout=10)
    total = await writer
    total += 1  # the warm-up's
    assert await relayed() < total  # it really died mid-stream
    relay = start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while await relayed() < total:
            assert asyncio.get_running_loop().time() < deadline, "the restarted relay stalled"
            await asyncio.sleep(0.1)
        received = await consume_until(
            settings,
            settings.events_topic,
            lambda r: len({(e.queue_id, e.stream_version) for e in r}) >= total,
        )
    finally:
        relay.terminate()
        _, stderr = relay.communicate(timeout=15)
    assert relay.returncode == 0, stderr.decode()[-2000:]
    assert_complete_and_ordered([e for e in received if e.queue_id != warm_up], 6, 60)
    ids: dict[tuple[str, int], str] = {}
    for event in received:  # a duplicate is only ever the same event again
        first_id = ids.setdefault((event.queue_id, event.stream_version), event.event_id)
        assert first_id == event.event_id


@pytest.mark.skipif(bool(os.environ.get("VQ_KAFKA_BOOTSTRAP")), reason="needs the local stack")
@pytest.mark.serial
async def test_relay_rides_out_a_real_kafka_stop(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    """Stop the real broker, keep appending, start it again: every event arrives in order."""
    from deploy import stack

    local = Settings()
    stop = asyncio.Event()
    relay = relay_for(settings, store)
    task = asyncio.create_task(relay.run(stop))
    await asyncio.to_thread(stack.down, local, ["kafka"])
    try:
        total = await fill(store, tenant_id, queues=3, per_queue=20)
        assert relay.published < total
    finally:
        await asyncio.to_thread(stack.up, local, ["kafka"])
    await wait_for(lambda: relay.published >= total, timeout=60)
    stop.set()
    await asyncio.wait_for(task, 10)
    received = await consume_until(
        settings,
        settings.events_topic,
        lambda r: len({(e.queue_id, e.stream_version) for e in r}) >= total,
    )
    assert_complete_and_ordered(received, 3, 20)


@pytest.mark.parametrize("started", ["before the commits", "after them"])
async def test_a_relay_held_by_an_open_transaction_names_it_then_publishes_all_in_order(
    settings: Settings,
    store: PostgresEventStore,
    tenant_id: str,
    topics: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    started: str,
) -> None:
    """A session that wrote and was left open (in any database of the server) holds every commit
    after it back: the relay's log names that session (pid, application, state) for the
    operator, and once it ends everything goes out, in order, and the log says so. A relay
    started after the held commits (announced to nobody then) says so too. Nothing announces
    the end of the holding transaction: the relay looks again soon while held, not at its idle
    poll (120 s here, so that the test fails if it waited for that)."""
    monkeypatch.setattr(relay_module, "IDLE_POLL_S", 120.0)
    monkeypatch.setattr(holders, "TOLD_S", 0.5)
    monkeypatch.setattr(holders, "RETOLD_S", 0.5)
    caplog.set_level(logging.WARNING, logger="vq.relay")
    blocker = await psycopg.AsyncConnection.connect(settings.pg_url, application_name="lunch")
    stop = asyncio.Event()
    relay = relay_for(settings, store)
    try:
        await blocker.execute("SELECT pg_current_xact_id()")  # a writing transaction, left open
        if started == "before the commits":
            task = asyncio.create_task(relay.run(stop))
            total = await fill(store, tenant_id, queues=2, per_queue=5)
        else:
            total = await fill(store, tenant_id, queues=2, per_queue=5)
            task = asyncio.create_task(relay.run(stop))
        named = f"session pid {blocker.info.backend_pid}"
        await wait_for(lambda: named in caplog.text, timeout=15)
        assert relay.published == 0
        told = next(r.getMessage() for r in caplog.records if named in r.getMessage())
        assert "relay held for" in told and "application 'lunch'" in told, told
        assert "idle in transaction" in told and "once it ends" in told, told
    finally:
        await blocker.close()  # its transaction ends (rolled back)
    await wait_for(lambda: "relay going again after" in caplog.text, timeout=15)
    received = await received_then_stopped(settings, total, stop, task)
    assert_complete_and_ordered(received, 2, 5)


async def test_a_transaction_left_open_in_another_database_of_the_server_holds_nothing(
    settings: Settings, store: PostgresEventStore, tenant_id: str, topics: list[str]
) -> None:
    """Another application's database on the same server, with a session that wrote and was
    left open: the relay publishes this database's commits all the same (it waited for it: a
    snapshot lists every database's running transactions), and a rebuild's horizon passes it."""
    elsewhere = make_conninfo(settings.pg_url, dbname="postgres")
    blocker = await psycopg.AsyncConnection.connect(elsewhere, application_name="other app")
    stop = asyncio.Event()
    relay = relay_for(settings, store)
    try:
        written = await (await blocker.execute("SELECT pg_current_xact_id()::text")).fetchone()
        assert written is not None  # a writing transaction, left open
        task = asyncio.create_task(relay.run(stop))
        total = await fill(store, tenant_id, queues=2, per_queue=5)
        received = await consume_until(
            settings, settings.events_topic, lambda r: len(r) >= total, timeout=15
        )
        assert_complete_and_ordered(received, 2, 5)
        # A rebuild's horizon passes it too (once this database's own short ones have ended).
        passed = False
        for _ in range(100):
            if passed := (await store.read_horizon())[0] > int(written[0]):
                break
            await asyncio.sleep(0.05)
        assert passed
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await blocker.close()
