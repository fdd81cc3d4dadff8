"""Analytics equal a brute-force recomputation from the event store, for a simulated day."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from core.settings import Settings
from domain.commands import (
    CallNext,
    CancelTicket,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    MarkNoShow,
    StartService,
)
from domain.config import QueueConfig
from domain.errors import Rejected
from domain.estimation import SERVED, Selector
from domain.events import (
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketServed,
)
from domain.evolve import evolve
from domain.state import initial_state
from eventstore.postgres import PostgresEventStore
from eventstore.values import CommandContext
from projections.analytics import bucket_of
from projections.analytics_report import load_buckets, report
from projections.layout import Keys
from projections.rebuild import rebuild
from service_layer.queues import CommandRequest, QueueService

DAY = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


class Clock:
    now = DAY

    def __call__(self) -> datetime:
        return self.now


async def _simulate_day(store: PostgresEventStore, tenant_id: str, seed: int) -> str:
    """A clinic morning to evening: arrivals, 3 counters, services, no-shows, walk-aways."""
    clock = Clock()
    service = QueueService(store, clock)
    rng = random.Random(seed)
    queue_id = str(uuid.uuid4())
    config = QueueConfig(
        name="Clinic", counters=("1", "2", "3"), target_wait_seconds=1200, timezone="Europe/Berlin"
    )

    async def run(command: Any) -> None:
        cid = str(uuid.uuid4())
        context = CommandContext(
            command_id=cid, correlation_id=cid, actor="sim", occurred_at=clock.now
        )
        await service.execute(
            CommandRequest(tenant_id=tenant_id, queue_id=queue_id, command=command, context=context)
        )

    await run(CreateQueue(queue_id=queue_id, tenant_id=tenant_id, config=config))
    at_counter: dict[str, tuple[str, datetime]] = {}
    waiting: list[str] = []
    end = DAY + timedelta(hours=10)
    while clock.now < end:
        clock.now += timedelta(seconds=rng.expovariate(1 / 70))
        roll = rng.random()
        if roll < 0.5:
            ticket = str(uuid.uuid4())
            await run(
                EnqueueTicket(
                    ticket_id=ticket, priority=rng.choice(["normal"] * 6 + ["vip", "urgent"])
                )
            )
            waiting.append(ticket)
        elif roll < 0.55 and waiting:
            gone = waiting.pop(rng.randrange(len(waiting)))
            with contextlib.suppress(Rejected):  # already called by the time they gave up
                await run(CancelTicket(ticket_id=gone, by=rng.choice(["customer", "staff"])))
        else:
            for counter in ("1", "2", "3"):
                current = at_counter.get(counter)
                if current is not None and clock.now - current[1] > timedelta(minutes=4):
                    ticket, _ = at_counter.pop(counter)
                    if rng.random() < 0.08:
                        await run(MarkNoShow(ticket_id=ticket))
                    else:
                        if rng.random() < 0.8:
                            await run(StartService(ticket_id=ticket))
                            clock.now += timedelta(seconds=rng.uniform(30, 400))
                        await run(CompleteService(ticket_id=ticket))
                if counter not in at_counter:
                    try:
                        await run(CallNext(counter=counter))
                    except Rejected:
                        continue
                    events = await store.read_stream(queue_id)
                    called = events[-1].event
                    assert isinstance(called, TicketCalled)
                    at_counter[counter] = (called.ticket_id, clock.now)
                    if called.ticket_id in waiting:
                        waiting.remove(called.ticket_id)
    return queue_id


def _brute_force(events: list[Any], target_s: int) -> dict[int, dict[str, Any]]:
    """Per 15-minute bucket, straight from the events, independently of projections/."""
    buckets: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    enqueued: dict[str, datetime] = {}
    called_once: set[str] = set()
    began: dict[str, datetime] = {}
    # The P50 each ticket was shown when it joined: the domain's estimators fed the events.
    state, selector, shown = initial_state("q"), Selector.default(), {}

    def bucket(at: datetime) -> dict[str, Any]:
        seconds = int(at.timestamp())
        return buckets[seconds - seconds % 900]

    for event in (r.event for r in events):
        evolve(state, event)
        selector.observe(state, event)
        if isinstance(event, TicketEnqueued):
            given = selector.book.given_.get(event.ticket_id)
            if given is not None and SERVED in given.estimates:
                shown[event.ticket_id] = given.estimates[SERVED].p50  # given at the enqueue
        if isinstance(event, TicketEnqueued):
            enqueued[event.ticket_id] = event.at
            bucket(event.at)["arrivals"] += 1
        elif isinstance(event, TicketCalled):
            began[event.ticket_id] = event.at
            if event.ticket_id not in called_once:
                called_once.add(event.ticket_id)
                wait = round((event.at - enqueued[event.ticket_id]).total_seconds() * 1000)
                row = bucket(event.at)
                row["called"] += 1
                row.setdefault("waits", []).append(wait)
                row["within_target"] += wait <= target_s * 1000
                if event.ticket_id in shown:  # the promise: at most twice that (and a minute)
                    p50 = shown[event.ticket_id]
                    row["promised"] += 1
                    row["over_twice"] += wait / 1000 > max(2 * p50, p50 + 60)
        elif isinstance(event, ServiceStarted):
            began[event.ticket_id] = event.at
        elif isinstance(event, TicketServed):
            row = bucket(event.at)
            row["served"] += 1
            service = round((event.at - began[event.ticket_id]).total_seconds() * 1000)
            row.setdefault("services", []).append(service)
        elif isinstance(event, TicketNoShow):
            bucket(event.at)["no_shows"] += 1
        elif isinstance(event, TicketCancelled):
            bucket(event.at)["walkaways" if event.by == "customer" else "cancellations"] += 1
    return buckets


def _nearest_rank(values: list[int], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)] / 1000, 1)


async def _visible_to_readers_in_order(store: PostgresEventStore, queue_id: str) -> None:
    """Until every event of the queue is below the visibility horizon: a rebuild reads the store
    in global order from finished transactions only (eventstore/postgres.py READ_ALL_SQL), so a
    transaction another test holds open would hide this day's last commits from it."""
    async with asyncio.timeout(30):
        while True:
            async with store.connection() as conn:
                cur = await conn.execute(
                    "SELECT max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()) "
                    "FROM events WHERE stream_id = %s",
                    (queue_id,),
                )
                row = await cur.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.05)


async def test_analytics_equal_a_brute_force_recomputation(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    queue_id = await _simulate_day(store, tenant_id, seed=7)
    await _visible_to_readers_in_order(store, queue_id)
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        await rebuild(store, client, keys, {queue_id})
        start, end = DAY - timedelta(hours=1), DAY + timedelta(hours=13)
        buckets = await load_buckets(client, keys, tenant_id, queue_id, start, end)
        result = report(buckets, start, end, "15m", "Europe/Berlin", 1200)
    finally:
        await client.aclose()
    events = await store.read_stream(queue_id)
    expected = _brute_force(events, 1200)
    rows = {int(datetime.fromisoformat(r["start"]).timestamp()): r for r in result["rows"]}
    assert set(rows) == set(expected)
    assert sum(r["arrivals"] for r in rows.values()) > 100  # a real day, not a toy
    for start_s, want in expected.items():
        row = rows[start_s]
        for name in ("arrivals", "called", "served", "no_shows", "walkaways", "cancellations"):
            assert row[name] == want.get(name, 0), (start_s, name)
        waits = want.get("waits", [])
        assert row["wait_seconds"]["count"] == len(waits)
        if waits:
            assert row["wait_seconds"]["p50"] == _nearest_rank(waits, 0.5)
            assert row["wait_seconds"]["p90"] == _nearest_rank(waits, 0.9)
            assert row["wait_seconds"]["max"] == round(max(waits) / 1000, 1)
            assert row["wait_seconds"]["mean"] == round(sum(waits) / len(waits) / 1000, 1)
            assert row["within_target_share"] == round(want["within_target"] / len(waits), 4)
            assert row["promised"] == want["promised"]
            if want["promised"]:
                share = round(want["over_twice"] / want["promised"], 4)
                assert row["over_twice_share"] == share
        services = want.get("services", [])
        if services:
            assert row["service_seconds"]["p50"] == _nearest_rank(services, 0.5)
    total = result["total"]
    assert total["arrivals"] == sum(w.get("arrivals", 0) for w in expected.values())
    # The fairness figure of the day: some promises were broken, most were not.
    assert total["promised"] == sum(w.get("promised", 0) for w in expected.values()) > 100
    assert 0 < total["over_twice_share"] < 0.5, total["over_twice_share"]
    daily = report(buckets, start, end, "1d", "Europe/Berlin", 1200)
    assert len(daily["rows"]) == 1 and daily["rows"][0]["served"] == total["served"]
    assert (
        daily["peak_hours"]
        and sum(c["served"] for c in total["counters"].values()) == total["served"]
    )


async def test_analytics_over_http_as_json_and_csv(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    import httpx

    from access.directory import TenantDirectory
    from vq.api import create_app

    queue_id = await _simulate_day(store, tenant_id, seed=11)
    viewer = (await TenantDirectory(store).create_key(tenant_id, "board", "viewer")).secret
    keys = Keys(settings.redis_prefix)
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        await rebuild(store, client, keys)
        start, end = DAY - timedelta(hours=1), DAY + timedelta(hours=13)
        expected = report(
            await load_buckets(client, keys, tenant_id, queue_id, start, end),
            start,
            end,
            "1h",
            "Europe/Berlin",
            1200,
        )
    finally:
        await client.aclose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://vq.test",
            headers={"Authorization": f"Bearer {viewer}"},
        ) as http:
            params = {"from": start.isoformat(), "to": end.isoformat(), "bucket": "1h"}
            answer = await http.get(f"/v1/queues/{queue_id}/analytics", params=params)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["rows"] == expected["rows"] and body["total"] == expected["total"]
            assert body["timezone"] == "Europe/Berlin"
            assert datetime.fromisoformat(body["rows"][0]["start"]).utcoffset() == timedelta(
                hours=1
            )  # Berlin in November
            sheet = await http.get(
                f"/v1/queues/{queue_id}/analytics", params={**params, "format": "csv"}
            )
            assert sheet.headers["content-type"].startswith("text/csv")
            lines = sheet.text.strip().splitlines()
            assert (
                lines[0].startswith("start,end,arrivals")
                and len(lines) == len(expected["rows"]) + 1
            )
            tenant = await http.get("/v1/analytics", params={**params, "timezone": "UTC"})
            assert tenant.json()["total"]["arrivals"] == expected["total"]["arrivals"]
            # A range that ends before it starts is empty (the OpenAPI document cannot say
            # "from before to", so it is not refused); a time without its offset is refused.
            backwards = await http.get(
                f"/v1/queues/{queue_id}/analytics",
                params={"from": end.isoformat(), "to": start.isoformat()},
            )
            assert backwards.status_code == 200, backwards.text
            assert backwards.json()["rows"] == [] and backwards.json()["total"]["arrivals"] == 0
            naive = await http.get(
                f"/v1/queues/{queue_id}/analytics", params={"from": "2026-11-24T07:00:00"}
            )
            assert naive.status_code == 422
            # Any range is answered (its cost is what is stored in it): here, all of history.
            ages = await http.get(
                f"/v1/queues/{queue_id}/analytics",
                params={"from": "0001-01-01T00:00:00Z", "bucket": "1d"},
            )
            assert ages.status_code == 200, ages.text
            assert ages.json()["total"]["arrivals"] == expected["total"]["arrivals"]
            other = await http.get(f"/v1/queues/{uuid.uuid4()}/analytics", params=params)
            assert other.status_code == 404


async def test_a_quarter_hour_begun_less_than_a_second_ago_is_in_the_range(
    settings: Settings,
) -> None:
    """A report "until now" asked in the first second of a quarter-hour has what that
    quarter-hour holds already (it once left it out: the end's second was rounded down)."""
    client = aioredis.Redis.from_url(settings.redis_dsn)
    keys, tenant_id, queue_id = Keys(settings.redis_prefix), str(uuid.uuid4()), str(uuid.uuid4())
    begun = bucket_of(DAY)
    try:
        await client.hset(keys.analytics(tenant_id, queue_id, begun), "arrivals", "1")
        await client.zadd(keys.analytics_index(tenant_id, queue_id), {str(begun): begun})
        start = DAY - timedelta(hours=1)
        for end, found in (
            (DAY + timedelta(milliseconds=300), [begun]),
            (DAY + timedelta(seconds=1), [begun]),
            (DAY, []),  # [start, end): a quarter-hour that begins at the end is not in it
        ):
            buckets = await load_buckets(client, keys, tenant_id, queue_id, start, end)
            assert [b.start for b in buckets] == found, end
    finally:
        await client.aclose()
