"""Kill -9 the notifier and the channel worker mid-stream: nothing lost, nothing sent twice under
another id, and what was sent twice under the same id (a worker killed between sending and
recording) counted and reported by `vq notifications status`."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from notifications.store.endpoints import create_endpoint
from schemas import positions
from tests.integration.reach import delivery_topics, notifications_status, reach_settings, until
from tests.integration.servers import Process
from tests.receivers.webhook import WebhookReceiver

MESSAGES = 10_000
ENDPOINT_RATE = 1_000  # per second: the endpoint's own limit stays out of the way


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return reach_settings(settings)


async def _produce_moments(settings: Settings, tenant_id: str, count: int) -> None:
    """`count` position changes, as the stream worker announces them (one ticket each)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, linger_ms=20)
    await producer.start()
    try:
        queue_id, now = str(uuid.uuid4()), datetime.now(UTC)
        futures = []
        for version in range(1, count + 1):
            key, value, headers = positions.encode(
                positions.PositionChanged(
                    tenant_id=tenant_id,
                    queue_id=queue_id,
                    ticket_id=str(uuid.uuid4()),
                    number=f"A-{version:05d}",
                    stream_version=version,
                    occurred_at=now,
                    cause="TicketEnqueued",
                    status="waiting",
                    position=1,
                    counter=None,
                )
            )
            futures.append(
                await producer.send(settings.positions_topic, value, key=key, headers=headers)
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@pytest.mark.slow
async def test_killed_mid_stream_none_is_lost_and_none_is_sent_under_another_id(
    settings: Settings, topics: list[str], pool: Any, tenant_id: str, hooks: WebhookReceiver
) -> None:
    await delivery_topics(settings)
    await create_endpoint(
        pool,
        tenant_id,
        url=hooks.url_for("/all"),
        event_types=["TicketPositionChanged"],
        rate_per_s=ENDPOINT_RATE,
    )
    await _produce_moments(settings, tenant_id, MESSAGES)
    notifier = Process(settings, "notifier", "--stages", "notifier")
    worker = Process(settings, "notifier", "--stages", "deliver,retry")
    try:
        started = asyncio.get_running_loop().time()
        await until(lambda: len(hooks.requests()) >= 1_500, 90, "first deliveries")
        print("first 1,500 after", asyncio.get_running_loop().time() - started)
        notifier.kill()
        notifier.start()
        await until(lambda: len(hooks.requests()) >= 4_000, 90, "more deliveries")
        worker.kill()
        worker.start()
        await until(lambda: len(hooks.requests()) >= 6_000, 90, "more after a restart")
        notifier.kill()
        worker.kill()
        notifier.start()
        worker.start()
        distinct = lambda: {r.headers["webhook-id"] for r in hooks.requests()}  # noqa: E731
        await until(lambda: len(distinct()) >= MESSAGES, 180, f"every message ({len(distinct())})")
        await asyncio.sleep(2)  # anything still in flight
    finally:
        notifier.stop()
        worker.stop()
    received = hooks.requests()
    by_id: dict[str, set[str]] = {}
    for request in received:
        ticket = json.loads(request.body)["data"]["ticket_id"]
        by_id.setdefault(request.headers["webhook-id"], set()).add(ticket)
    tickets = {t for found in by_id.values() for t in found}
    assert len(by_id) == MESSAGES and len(tickets) == MESSAGES  # none lost
    assert all(len(found) == 1 for found in by_id.values())  # one id per ticket's message...
    ids_per_ticket: dict[str, set[str]] = {}
    for message_id, found in by_id.items():
        ids_per_ticket.setdefault(next(iter(found)), set()).add(message_id)
    assert all(len(ids) == 1 for ids in ids_per_ticket.values())  # ...and one message per id
    resent = len(received) - MESSAGES
    reported = notifications_status(settings)
    assert reported["delivered"] == MESSAGES, reported
    # Every copy the receiver got twice was a resend the delivery state counted.
    assert resent <= reported["resends"], (resent, reported)
    print(f"kill -9 x4: {MESSAGES} delivered, {resent} sent again under the same id; {reported}")
