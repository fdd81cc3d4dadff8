"""What `vq notifications status` calls a resend: a message that went out again under the same id
because a channel worker stopped mid-batch, and only that. A batch a dead worker had claimed (a
webhook and an e-mail to a person who has since unsubscribed) is read again by the real channel
worker: the webhook is sent again and counted; the e-mail is obsolete, sent to nobody, and is not
a resend to a person."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from core.settings import Settings
from notifications.messages import Message
from notifications.outlet import Outlet
from notifications.store.db import Pool
from notifications.store.deliveries import claim, tally
from notifications.store.endpoints import create_endpoint
from notifications.store.subscriptions import cancel_subscription, create_subscription
from tests.integration.reach import (
    delivery_topics,
    notifications_status,
    notifier,
    reach_settings,
    until,
)
from tests.receivers.webhook import WebhookReceiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return reach_settings(settings)


async def _batch(pool: Pool, tenant_id: str, hooks: WebhookReceiver) -> list[Message]:
    """A webhook to a live endpoint, and an e-mail to a subscription cancelled since."""
    queue_id, ticket_id, now = str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC)
    endpoint = await create_endpoint(pool, tenant_id, url=hooks.url_for("/all"))
    person = await create_subscription(
        pool, tenant_id=tenant_id, queue_id=queue_id, ticket_id=ticket_id, channel="email",
        address="person@example.org", language="en", rules=[("ahead", 3)],
    )  # fmt: skip
    await cancel_subscription(pool, tenant_id, ticket_id, person.subscription_id)
    hook = Message(
        id=f"{uuid.uuid4()}:{endpoint.endpoint_id}", tenant_id=tenant_id, channel="webhook",
        to=endpoint.endpoint_id, topic="TicketCalled", created_at=now, order_key=queue_id,
        data={"type": "TicketCalled", "data": {"queue_id": queue_id}},
    )  # fmt: skip
    note = Message(
        id=f"{person.subscription_id}:ahead:1", tenant_id=tenant_id, channel="email", to="",
        topic="ahead", created_at=now, order_key=ticket_id, queue_id=queue_id,
        ticket_id=ticket_id, subscription_id=person.subscription_id,
        data={"number": "A-001", "people_ahead": 2},
    )  # fmt: skip
    return [hook, note]


async def test_a_batch_read_again_counts_as_resends_only_what_went_out_again(
    settings: Settings, topics: list[str], pool: Pool, tenant_id: str, hooks: WebhookReceiver
) -> None:
    await delivery_topics(settings)
    batch = await _batch(pool, tenant_id, hooks)
    # The worker that died had claimed both attempts and recorded neither.
    assert await claim(pool, [(message, 1) for message in batch]) == {m.id for m in batch}
    outlet = Outlet(settings, client_id=f"{settings.topic_prefix}-test")
    try:
        await outlet.send(batch)
    finally:
        await outlet.aclose()

    with notifier(settings, "deliver"):
        await until(lambda: len(hooks.requests("/all")) >= 1, 60, "the webhook sent again")
        for _ in range(300):  # both settled: the webhook delivered, the e-mail obsolete
            counts = await tally(pool, tenant_id)
            if counts.delivered + counts.obsolete == 2:
                break
            await asyncio.sleep(0.1)
    status = notifications_status(settings)
    assert status["delivered"] == 1 and status["obsolete"] == 1, status
    assert status["resends"] == 1, status  # the webhook; the e-mail went to nobody
    assert len(hooks.requests("/all")) == 1
