"""The notification stores the workers use, on a real PostgreSQL: which template a message gets,
the endpoints a tenant has live and how failures are counted, the alerts a condition reaches, and
schedules that fire once per occurrence however many replicas try."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta

import psycopg
from psycopg import sql

from core.settings import Settings
from notifications.messages import Message
from notifications.store import alerts, endpoints, schedules, templates
from notifications.store.db import Pool
from notifications.store.deliveries import Outcome, claim, purge, settle
from notifications.store.subscriptions import cancel_subscription, create_subscription
from notifications.store.watches import following, standings
from notifications.templates import default_template


def _tenant(settings: Settings) -> str:
    tenant = str(uuid.uuid4())
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.tenants (tenant_id, name) VALUES (%s, %s)").format(
                sql.Identifier(settings.db_schema)
            ),
            (tenant, "another"),
        )
    return tenant


async def test_a_message_gets_the_nearest_template(pool: Pool, tenant_id: str) -> None:
    queue, other_queue = str(uuid.uuid4()), str(uuid.uuid4())

    async def resolved(queue_id: str | None, language: str) -> str:
        found = await templates.resolve_template(
            pool, tenant_id, queue_id, "called", "sms", language
        )
        return found.body

    assert await resolved(queue, "fr") == default_template("called", "sms", "fr").body
    for queue_id, language in ((None, "en"), (queue, "en"), (None, "fr"), (queue, "fr")):
        await templates.put_template(
            pool, tenant_id, queue_id=queue_id, topic="called", channel="sms",
            language=language, body=f"{queue_id and 'queue'}-{language} {{{{ number }}}}",
        )  # fmt: skip
        # Each save is seen at once in this process (the cache is forgotten).
    assert await resolved(queue, "fr") == "queue-fr {{ number }}"
    assert await resolved(other_queue, "fr") == "None-fr {{ number }}"  # the tenant's
    assert await resolved(queue, "de") == "queue-en {{ number }}"  # the queue's, in English
    assert await resolved(other_queue, "de") == "None-en {{ number }}"
    assert await resolved(None, "fr") == "None-fr {{ number }}"
    mine = await templates.get_template(
        pool, tenant_id, queue_id=queue, topic="called", channel="sms", language="fr"
    )
    assert mine is not None
    assert await templates.delete_template(pool, tenant_id, mine.template_id)
    assert await resolved(queue, "fr") == "None-fr {{ number }}"


async def test_live_endpoints_and_their_failures(
    pool: Pool, tenant_id: str, settings: Settings
) -> None:
    first = await endpoints.create_endpoint(pool, tenant_id, url="https://a.example.com/")
    second = await endpoints.create_endpoint(
        pool, tenant_id, url="https://b.example.com/", event_types=["TicketCalled"]
    )
    await endpoints.create_endpoint(pool, _tenant(settings), url="https://c.example.com/")
    live = await endpoints.active_endpoints(pool, tenant_id)
    assert [e.endpoint_id for e in live] == [first.endpoint_id, second.endpoint_id]
    assert first.wants("QueuePaused") and second.wants("TicketCalled")
    assert not second.wants("QueuePaused")

    at = datetime.now(UTC)
    assert await endpoints.note_failure(pool, first.endpoint_id, at) == at
    later = at + timedelta(hours=1)
    assert await endpoints.note_failure(pool, first.endpoint_id, later) == at  # since the first
    await endpoints.note_success(pool, first.endpoint_id)
    assert await endpoints.note_failure(pool, first.endpoint_id, later) == later

    assert await endpoints.disable_endpoint(pool, first.endpoint_id, "410 Gone")
    assert not await endpoints.disable_endpoint(pool, first.endpoint_id, "410 Gone")
    live = await endpoints.active_endpoints(pool, tenant_id)  # forgotten at once here
    assert [e.endpoint_id for e in live] == [second.endpoint_id]
    found = await endpoints.endpoint_by_id(pool, first.endpoint_id)
    assert found is not None and found.disabled_reason == "410 Gone"
    enabled = await endpoints.enable_endpoint(pool, tenant_id, first.endpoint_id)
    assert enabled is not None and enabled.failing_since is None and not enabled.disabled
    assert len(await endpoints.active_endpoints(pool, tenant_id)) == 2
    assert await endpoints.endpoint_by_id(pool, str(uuid.uuid4())) is None


async def test_the_alerts_a_condition_reaches(pool: Pool, tenant_id: str) -> None:
    queue, other = str(uuid.uuid4()), str(uuid.uuid4())
    everywhere = await alerts.create_alert_rule(
        pool, tenant_id, condition="counter_idle", channel="email", address="a@example.com"
    )
    here = await alerts.create_alert_rule(
        pool, tenant_id, condition="counter_idle", channel="chat", address="slack://t/u/v",
        queue_id=queue,
    )  # fmt: skip
    await alerts.create_alert_rule(
        pool, tenant_id, condition="p90_over_target", channel="email", address="b@example.com",
        queue_id=queue,
    )  # fmt: skip
    found = await alerts.alert_rules_for(pool, tenant_id, "counter_idle", queue)
    assert [r.alert_id for r in found] == [everywhere.alert_id, here.alert_id]
    found = await alerts.alert_rules_for(pool, tenant_id, "counter_idle", other)
    assert [r.alert_id for r in found] == [everywhere.alert_id]
    assert "slack" not in repr(here)
    by_id = await alerts.alert_rule_by_id(pool, here.alert_id)
    assert by_id is not None and by_id.address == "slack://t/u/v"


async def test_each_occurrence_is_fired_by_one_replica(pool: Pool, tenant_id: str) -> None:
    now = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)  # the night before Paris moves to summer time
    daily = await schedules.create_schedule(
        pool, tenant_id, queue_id=str(uuid.uuid4()), kind="summary", recurrence="daily",
        time_zone="Europe/Paris", now=now, local_time=time(18), channel="email",
        address="boss@example.com",
    )  # fmt: skip
    assert daily.next_at == datetime(2024, 3, 30, 17, 0, tzinfo=UTC)  # 18:00 CET
    assert await schedules.due_schedules(pool, now, 10) == []
    due = await schedules.due_schedules(pool, daily.next_at + timedelta(seconds=1), 10)
    assert [s.schedule_id for s in due] == [daily.schedule_id]

    following = datetime(2024, 3, 31, 16, 0, tzinfo=UTC)  # 18:00 CEST
    moved = await asyncio.gather(
        *(
            schedules.advance_schedule(pool, daily.schedule_id, daily.next_at, following)
            for _ in range(5)
        )
    )
    assert sorted(moved) == [False, False, False, False, True]
    [after] = await schedules.list_schedules(pool, tenant_id)
    assert after.next_at == following and after.fired == 1
    assert await schedules.delete_schedule(pool, tenant_id, daily.schedule_id)
    assert await schedules.list_schedules(pool, tenant_id) == []


async def test_the_delivery_log_forgets_settled_messages_past_their_retention(
    pool: Pool, tenant_id: str
) -> None:
    def message(n: int) -> Message:
        return Message(
            id=f"m{n}",
            tenant_id=tenant_id,
            channel="email",
            to="a@example.com",
            topic="called",
            created_at=datetime.now(UTC),
            order_key="k",
        )

    assert await claim(pool, [(message(n), 1) for n in range(3)]) == {"m0", "m1", "m2"}
    now = datetime.now(UTC)
    await settle(pool, [Outcome("m0", 1, now, "delivered", "delivered")])
    await settle(pool, [Outcome("m1", 1, now, "retrying", "failed")])  # not settled: kept
    assert await purge(pool, now + timedelta(seconds=1)) == 1
    assert await claim(pool, [(message(0), 1)]) == {"m0"}  # forgotten: a new message again


async def test_a_batch_is_settled_at_once_each_attempt_recorded_and_each_message_moved_on(
    pool: Pool, tenant_id: str
) -> None:
    """One statement records the batch's attempts (code, time, excerpt, error) and moves each
    message to its new status; an attempt recorded again (a resend after a crash) is updated,
    and an outcome for a message the log does not hold records nothing."""
    at = datetime.now(UTC)
    messages = [
        Message(id=f"s{n}-{uuid.uuid4()}", tenant_id=tenant_id, channel="webhook", to="e1",
                topic="t", created_at=at, order_key="k")
        for n in range(2)
    ]  # fmt: skip
    ids = [m.id for m in messages]
    await claim(pool, [(m, 1) for m in messages])
    batch = [
        Outcome(ids[1], 1, at, "retrying", "failed", 500, 0.25, "oops", "HTTP 500"),
        Outcome(ids[0], 1, at, "delivered", "delivered", 204, 0.01, ""),
        Outcome("never-claimed", 1, at, "delivered", "delivered", 204, 0.01, ""),
    ]
    await settle(pool, batch)
    await settle(pool, batch[:1])  # the same attempt again: one row, as it came the last time
    async with pool.connection() as conn:
        attempts = await (
            await conn.execute(
                "SELECT message_id, attempt, outcome, status, seconds, excerpt, error"
                " FROM delivery_attempts WHERE message_id = ANY(%s) ORDER BY message_id",
                ([*ids, "never-claimed"],),
            )
        ).fetchall()
        states = await (
            await conn.execute(
                "SELECT message_id, status, last_error, delivered_at IS NOT NULL FROM deliveries"
                " WHERE message_id = ANY(%s) ORDER BY message_id",
                (ids,),
            )
        ).fetchall()
    assert attempts == [
        (ids[0], 1, "delivered", 204, 0.01, "", None),
        (ids[1], 1, "failed", 500, 0.25, "oops", "HTTP 500"),
    ]
    assert states == [(ids[0], "delivered", None, True), (ids[1], "retrying", "HTTP 500", False)]


async def test_an_attempt_settled_after_its_retry_leaves_the_message_where_the_retry_put_it(
    pool: Pool, tenant_id: str
) -> None:
    """Attempt 1 fails and its retry is published before attempt 1 is recorded; with a short
    retry delay the retry (attempt 2) is claimed and delivered first. Attempt 1's late record
    keeps its row in the log but does not move the message back to `retrying`."""
    at = datetime.now(UTC)
    message = Message(id=f"late-{uuid.uuid4()}", tenant_id=tenant_id, channel="sms",
                      to="+447700900125", topic="called", created_at=at, order_key="k")  # fmt: skip
    assert await claim(pool, [(message, 1)]) == {message.id}
    assert await claim(pool, [(message, 2)]) == {message.id}
    await settle(pool, [Outcome(message.id, 2, at, "delivered", "delivered", 201, 0.1, "")])
    await settle(pool, [Outcome(message.id, 1, at, "retrying", "failed", 500, 0.2, "", "500")])
    async with pool.connection() as conn:
        state = await (
            await conn.execute(
                "SELECT status, last_error FROM deliveries WHERE message_id = %s", (message.id,)
            )
        ).fetchone()
        rows = await (
            await conn.execute(
                "SELECT attempt, outcome FROM delivery_attempts WHERE message_id = %s"
                " ORDER BY attempt",
                (message.id,),
            )
        ).fetchall()
    assert state == ("delivered", None)
    assert rows == [(1, "failed"), (2, "delivered")]


async def test_a_batchs_standings_are_read_at_once_and_an_erased_subscription_has_none(
    pool: Pool, tenant_id: str
) -> None:
    """The channel workers read the addresses of a batch's messages in one statement as they
    send it (messages carry none), with whether each still holds: the subscription cancelled,
    the newest "it's your turn" made to it; a subscription removed since (the person's data
    erased) is not found, so its message is gone, and an id that is not a UUID finds nothing."""
    made = [
        await create_subscription(
            pool,
            tenant_id=tenant_id,
            queue_id=str(uuid.uuid4()),
            ticket_id=str(uuid.uuid4()),
            channel="email",
            address=f"person{n}@example.org",
            language="en",
            rules=[("ahead", 3)],
        )
        for n in range(3)
    ]
    async with pool.connection() as conn:
        await conn.execute(
            "DELETE FROM subscriptions WHERE subscription_id = %s", (made[2].subscription_id,)
        )
    first, second = made[0], made[1]
    await cancel_subscription(pool, tenant_id, second.ticket_id, second.subscription_id)
    called_at = datetime(2026, 3, 1, 9, 30, 0, 250_000, tzinfo=UTC)
    for at, topic in ((called_at - timedelta(minutes=5), "called"), (called_at, "called")):
        turn = Message(
            id=f"{first.subscription_id}:called:{at.minute}",
            tenant_id=tenant_id,
            channel="email",
            to="",
            topic=topic,
            created_at=at,
            order_key=first.ticket_id,
            subscription_id=first.subscription_id,
        )
        await claim(pool, [(turn, 1)])
    ids = [s.subscription_id for s in made] + ["not-a-uuid", str(uuid.uuid4())]
    found = await standings(pool, ids)
    assert sorted(found) == sorted([first.subscription_id, second.subscription_id])
    assert [found[s.subscription_id].address for s in (first, second)] == [
        "person0@example.org",
        "person1@example.org",
    ]
    assert [found[s.subscription_id].cancelled for s in (first, second)] == [False, True]
    assert found[first.subscription_id].closing == {"called": called_at}
    assert found[second.subscription_id].closing == {}
    assert await standings(pool, []) == {}


async def test_a_new_subscription_knows_its_tickets_number_before_any_moment(
    pool: Pool, tenant_id: str
) -> None:
    """A ticket cancelled before the read side has it gets its message from the events topic
    alone, with no moment to name its number: the subscription's watch starts with the number
    the command side gave it, and a subscription stopped then made again keeps it."""
    quiet, confirmed = [
        await create_subscription(
            pool,
            tenant_id=tenant_id,
            queue_id=str(uuid.uuid4()),
            ticket_id=str(uuid.uuid4()),
            channel="sms",
            address=f"+4477009001{n}",
            language="en",
            rules=[("cancelled", None)],
            number=f"A-00{n}",
        )
        for n in (1, 2)
    ]
    unnamed = await create_subscription(
        pool,
        tenant_id=tenant_id,
        queue_id=str(uuid.uuid4()),
        ticket_id=str(uuid.uuid4()),
        channel="sms",
        address="+447700900199",
        language="en",
        rules=[("cancelled", None)],
    )
    tickets = [quiet.ticket_id, confirmed.ticket_id, unnamed.ticket_id]
    numbers = {f.ticket_id: f.watch.number for f in await following(pool, tickets)}
    assert numbers == {
        quiet.ticket_id: "A-001",
        confirmed.ticket_id: "A-002",
        unnamed.ticket_id: None,
    }

    await cancel_subscription(pool, tenant_id, quiet.ticket_id, quiet.subscription_id)
    again = await create_subscription(
        pool,
        tenant_id=tenant_id,
        queue_id=quiet.queue_id,
        ticket_id=quiet.ticket_id,
        channel="sms",
        address="+44770090011",
        language="en",
        rules=[("cancelled", None)],
    )
    assert again.subscription_id == quiet.subscription_id  # started again, under its id
    [follower] = await following(pool, [quiet.ticket_id])
    assert follower.watch.number == "A-001"
