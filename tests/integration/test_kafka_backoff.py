"""Kafka goes away under a running `vq notifier` and comes back: while it is away the notifier
knocks a few times a second in all (its eight consumers and its producer together, not each
every 100 ms: a fleet of notifiers must not pound a broker that is recovering), and once it is
back the notifier delivers again within seconds. The shared Kafka stays up: the notifier is
pointed at a stand-in that relays to it, cuts every connection and refuses the new ones for a
while, then relays again (kafka_outage.py)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from notifications.store.endpoints import create_endpoint
from projections.layout import Keys
from schemas import positions
from tests.integration.conftest import ApiClient
from tests.integration.kafka_outage import KafkaOutage
from tests.integration.reach import delivery_topics, reach_settings, until
from tests.integration.servers import Process
from tests.receivers.webhook import WebhookReceiver

SETTLE_S = 1.0
DOWN_S = 8.0
SETTLED_S = 3.0  # the pace is measured after this long down (backoffs have grown by then)
MAX_KNOCKS_PER_S = 10.0  # was ~290 (aiokafka's fixed 100 ms retries, in every client)
MAX_RECOVERY_S = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return reach_settings(settings)


async def _moment(settings: Settings, tenant_id: str) -> None:
    """A position change, as the stream worker announces it, on the real Kafka."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers)
    await producer.start()
    try:
        key, value, headers = positions.encode(
            positions.PositionChanged(
                tenant_id=tenant_id,
                queue_id=str(uuid.uuid4()),
                ticket_id=str(uuid.uuid4()),
                number="A-001",
                stream_version=1,
                occurred_at=datetime.now(UTC),
                cause="TicketEnqueued",
                status="waiting",
                position=1,
                counter=None,
            )
        )
        await producer.send_and_wait(settings.positions_topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def _cpu_s(pid: int) -> float:
    """The CPU time a process used so far (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
async def test_a_notifier_knocks_gently_while_kafka_is_down_and_resumes_soon_after(
    settings: Settings, topics: list[str], pool: Any, tenant_id: str, hooks: WebhookReceiver
) -> None:
    await delivery_topics(settings)
    await create_endpoint(
        pool, tenant_id, url=hooks.url_for("/all"), event_types=["TicketPositionChanged"]
    )
    host, port = settings.kafka_servers.split(",")[0].rsplit(":", 1)
    async with KafkaOutage(host, int(port)) as kafka:
        aimed = settings.model_copy(update={"kafka_bootstrap": kafka.address})
        notifier = Process(aimed, "notifier")
        try:
            await _moment(settings, tenant_id)
            await until(lambda: len(hooks.requests()) >= 1, 60, "first delivery")
            await asyncio.sleep(SETTLE_S)  # every stage in its group, fetching
            assert notifier.proc is not None
            kafka.go_down()
            down_at, cpu_at = time.monotonic(), _cpu_s(notifier.proc.pid)
            await asyncio.sleep(DOWN_S)
            pace = kafka.knocks_per_s(down_at + SETTLED_S, time.monotonic())
            cpu = (_cpu_s(notifier.proc.pid) - cpu_at) / (time.monotonic() - down_at)
            await _moment(settings, tenant_id)  # on the real Kafka: waits for the return
            kafka.come_back()
            back_at = time.monotonic()
            await until(lambda: len(hooks.requests()) >= 2, 60, "delivery after the return")
            recovery = time.monotonic() - back_at
        finally:  # off the loop: the stand-in relays the notifier's goodbyes on this loop
            logged = await asyncio.to_thread(notifier.stop)
    first = kafka.knocks_per_s(down_at, down_at + 1)
    print(
        f"knocks/s: first second {first:.1f}, settled {pace:.1f}; notifier CPU while down "
        f"{cpu:.0%}; delivering again {recovery:.1f} s after Kafka was back"
    )
    assert pace <= MAX_KNOCKS_PER_S, logged[-3000:]
    assert recovery <= MAX_RECOVERY_S, logged[-3000:]


async def _said_it_waits(process: Process) -> None:
    """Until `process` has said it waits for Kafka (or ended). Its start takes seconds on a busy
    machine: once, in make test, a worker started after Kafka was back (and rightly said nothing
    of a wait), and a SIGTERM before its handlers are in place would kill it."""
    proc = process.proc
    assert proc is not None

    def said() -> bool:
        return "Kafka does not answer" in process.logged() or proc.poll() is not None

    await until(said, 60, f"word from {process.args[0]}")


async def _waits_then_stops(process: Process) -> None:
    """A process started while Kafka refuses it waits (alive seconds after it said so: a Faust
    worker had exited within a second), and a SIGTERM ends the wait at once, cleanly."""
    await _said_it_waits(process)
    await asyncio.sleep(WAITING_S)
    assert process.proc is not None and process.proc.poll() is None, (
        f"{process.args[0]} gave up on Kafka: {process.logged()[-3000:]}"
    )
    asked_at = time.monotonic()
    logged = await asyncio.to_thread(process.stop)
    assert time.monotonic() - asked_at < 5, logged[-3000:]
    assert process.proc.returncode == 0, logged[-3000:]
    assert "Kafka does not answer" in logged and "waiting for it" in logged, logged[-3000:]
    assert "Traceback" not in logged and "Unclosed" not in logged, logged[-3000:]


WAITING_S = 2.0


@pytest.mark.slow
async def test_a_notifier_started_while_kafka_is_down_waits_for_it_and_stops_when_asked(
    settings: Settings, topics: list[str], pool: Any, tenant_id: str, hooks: WebhookReceiver
) -> None:
    """Neither dead nor half alive: each stage waits for Kafka (it had raised at once, the rest
    of the process running on without it, deaf to Kafka's return), a stop ends the wait at
    once, cleanly, and once Kafka answers the notifier delivers."""
    await delivery_topics(settings)
    await create_endpoint(
        pool, tenant_id, url=hooks.url_for("/all"), event_types=["TicketPositionChanged"]
    )
    host, port = settings.kafka_servers.split(",")[0].rsplit(":", 1)
    async with KafkaOutage(host, int(port)) as kafka:
        kafka.go_down()
        aimed = settings.model_copy(update={"kafka_bootstrap": kafka.address})
        await _waits_then_stops(Process(aimed, "notifier"))

        notifier = Process(aimed, "notifier")
        try:
            await _said_it_waits(notifier)
            assert notifier.proc is not None and notifier.proc.poll() is None
            await _moment(settings, tenant_id)  # on the real Kafka
            kafka.come_back()
            await until(lambda: len(hooks.requests()) >= 1, 60, "delivery once Kafka answers")
        finally:  # off the loop: the stand-in relays the notifier's goodbyes on this loop
            logged = await asyncio.to_thread(notifier.stop)
    assert notifier.proc.returncode == 0, logged[-3000:]
    assert "Kafka answers again" in logged, logged[-3000:]


@pytest.mark.slow
async def test_a_worker_started_while_kafka_is_down_waits_for_it_and_stops_when_asked(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    """Faust gives up on a Kafka that is away at its start (the worker exited 1 within seconds,
    to be restarted in a loop by whoever watches it): it now waits, a stop ends the wait at
    once, cleanly, and once Kafka answers the worker folds what was written meanwhile."""
    host, port = settings.kafka_servers.split(",")[0].rsplit(":", 1)
    async with KafkaOutage(host, int(port)) as kafka:
        kafka.go_down()
        aimed = settings.model_copy(update={"kafka_bootstrap": kafka.address})
        await _waits_then_stops(Process(aimed, "worker", "--loglevel", "info"))

        worker = Process(aimed, "worker", "--loglevel", "info")
        relay = Process(settings, "relay")  # on the real Kafka
        try:
            queue = await api.create_queue(name="Kafka away at the start")
            await _said_it_waits(worker)
            assert worker.proc is not None and worker.proc.poll() is None, worker.logged()
            kafka.come_back()
            key = Keys(settings.redis_prefix).queue(api.tenant_id, queue)
            async with aioredis.Redis.from_url(settings.redis_dsn) as client:
                deadline = time.monotonic() + 60
                while await client.hget(key, "version") is None:
                    assert time.monotonic() < deadline, worker.logged()[-3000:]
                    await asyncio.sleep(0.1)
        finally:  # off the loop: the stand-in relays the worker's goodbyes on this loop
            logged = await asyncio.to_thread(worker.stop)
            relay.stop()
    assert worker.proc.returncode == 0, logged[-3000:]
    assert "Kafka answers again" in logged, logged[-3000:]
