"""GET /v1/queues/{id}/bottlenecks: four ordinary Mondays, then one where counter 3 stops, the
consultations take twice as long, people come three times as fast and half do not show: each is
found with its evidence; the ordinary Monday before it shows nothing; another tenant gets a 404.
A `bottleneck` alert rule tells each cause once an hour (the notifier's periodic conditions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import redis.asyncio as aioredis

from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from notifications.conditions import Conditions
from notifications.outlet import Outlet
from notifications.store.alerts import create_alert_rule
from projections.layout import Keys
from projections.rebuild import rebuild
from tests.integration.kafka_support import json_records
from tests.integration.reach import delivery_topics
from vq.api import create_app

BERLIN = ZoneInfo("Europe/Berlin")
MONDAYS = [datetime(2026, 11, day, 8, 0, tzinfo=BERLIN) for day in (2, 9, 16, 23, 30)]


class Clock:
    now = MONDAYS[0]

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Day:
    """How a morning goes from 08:00 to `end`; from 09:30 on, `after` applies when given."""

    end: datetime
    gap: timedelta = timedelta(seconds=150)
    service: timedelta = timedelta(minutes=6)
    counters: tuple[str, ...] = ("1", "2", "3")
    no_show_every: int = 15
    after: Day | None = None
    busy: dict[str, tuple[str, datetime, bool]] = field(default_factory=dict)


async def _play(
    http: httpx.AsyncClient, clock: Clock, queue: str, day: Day, start: datetime
) -> None:
    clock.now, next_arrival, calls, waiting = start, start, 0, 0
    switch = start.replace(hour=9, minute=30)
    while clock.now < day.end:
        rules = day.after if day.after is not None and clock.now >= switch else day
        if clock.now >= next_arrival:
            joined = await http.post(
                f"/v1/queues/{queue}/tickets", json={"service_type": "consult"}
            )
            assert joined.status_code == 201, joined.text
            next_arrival += rules.gap
            waiting += 1
        for counter in ("1", "2", "3"):
            busy = day.busy.get(counter)
            if busy is not None and clock.now >= busy[1]:
                action = "no-show" if busy[2] else "complete"
                done = await http.post(f"/v1/tickets/{busy[0]}/{action}")
                assert done.status_code == 200, done.text
                del day.busy[counter]
            if counter in day.busy or counter not in rules.counters or waiting == 0:
                continue
            called = await http.post(f"/v1/queues/{queue}/call-next", json={"counter": counter})
            assert called.status_code == 200, called.text
            ticket = called.json()["ticket"]["ticket_id"]
            calls, waiting = calls + 1, waiting - 1
            no_show = calls % rules.no_show_every == 0
            if no_show:
                day.busy[counter] = (ticket, clock.now + timedelta(minutes=2), True)
            else:
                assert (await http.post(f"/v1/tickets/{ticket}/start")).status_code == 200
                day.busy[counter] = (ticket, clock.now + rules.service, False)
        clock.now += timedelta(seconds=30)


async def _close_day(http: httpx.AsyncClient, day: Day) -> None:
    for ticket, _, no_show in day.busy.values():
        await http.post(f"/v1/tickets/{ticket}/{'no-show' if no_show else 'complete'}")


async def test_a_bad_monday_names_what_limits_it(
    settings: Settings, store: PostgresEventStore, pool: Any, topics: list[str]
) -> None:
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        directory = app.state.services.directory
        tenant_id, admin = await directory.create_tenant("Clinic")
        _, stranger = await directory.create_tenant("Other")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://vq.test",
            headers={"Authorization": f"Bearer {admin.secret}"},
        ) as http:
            queue = (
                await http.post(
                    "/v1/queues",
                    json={
                        "name": "GP",
                        "counters": ["1", "2", "3"],
                        "service_types": ["consult"],
                        "timezone": "Europe/Berlin",
                    },
                )
            ).json()["queue_id"]
            for monday in MONDAYS[:-1]:
                ordinary = Day(end=monday.replace(hour=11))
                await _play(http, clock, queue, ordinary, monday)
                await _close_day(http, ordinary)
            bad = Day(
                end=MONDAYS[-1].replace(hour=10, minute=29),
                after=Day(
                    end=MONDAYS[-1],
                    gap=timedelta(seconds=50),
                    service=timedelta(minutes=12),
                    counters=("1", "2"),
                    no_show_every=2,
                ),
            )
            await _play(http, clock, queue, bad, MONDAYS[-1])
            redis = aioredis.Redis.from_url(settings.redis_dsn)
            try:
                await rebuild(store, redis, Keys(settings.redis_prefix), {queue})
            finally:
                await redis.aclose()

            found = await http.get(f"/v1/queues/{queue}/bottlenecks")
            assert found.status_code == 200, found.text
            body = found.json()
            assert body["compared_days"] == 4
            assert body["waiting"] > 5
            kinds = {(f["kind"], f["subject"]) for f in body["findings"]}
            assert kinds == {
                ("counter_idle", "3"),
                ("slower_service", "consult"),
                ("no_show_spike", None),
                ("arrivals_above_usual", None),
                ("line_growing", None),
            }, body
            causes = [f["people_per_hour"] for f in body["findings"][:-1]]
            assert causes == sorted(causes, reverse=True)
            assert body["findings"][-1]["kind"] == "line_growing"  # the effect comes last
            by_kind = {f["kind"]: f for f in body["findings"]}
            assert by_kind["counter_idle"]["evidence"]["usual_days"] == 4
            assert by_kind["slower_service"]["evidence"]["ratio"] >= 1.5
            assert by_kind["arrivals_above_usual"]["evidence"]["usual_arrivals"] < 30

            quiet = await http.get(
                f"/v1/queues/{queue}/bottlenecks",
                params={"at": MONDAYS[-2].replace(hour=10, minute=29).isoformat()},
            )
            assert quiet.status_code == 200
            assert quiet.json()["findings"] == []
            assert quiet.json()["compared_days"] == 3
            assert quiet.json()["waiting"] is None

            other = await http.get(
                f"/v1/queues/{queue}/bottlenecks",
                headers={"Authorization": f"Bearer {stranger.secret}"},
            )
            assert other.status_code == 404
            assert other.headers["content-type"].startswith("application/problem+json")
            wrong = await http.get(f"/v1/queues/{queue}/bottlenecks", params={"at": "monday"})
            assert wrong.status_code == 422
            ancient = {"at": "0001-01-01T00:00:00+14:00"}
            long_ago = await http.get(f"/v1/queues/{queue}/bottlenecks", params=ancient)
            assert long_ago.status_code == 200 and long_ago.json()["findings"] == []
        await _alerts(settings, pool, tenant_id, clock)


async def _alerts(settings: Settings, pool: Any, tenant_id: str, clock: Clock) -> None:
    """The rule's alerts: one per cause (not the growing line), once in the hour."""
    await delivery_topics(settings)
    await create_alert_rule(
        pool, tenant_id, condition="bottleneck", channel="email", address="gp@example.com"
    )
    client = aioredis.Redis.from_url(settings.redis_dsn)
    outlet = Outlet(settings)
    conditions = Conditions(settings, pool, outlet, client, clock)
    try:
        sent = [await conditions.check(), await conditions.check()]
    finally:
        await outlet.aclose()
        await client.aclose()
    assert sent[0] == 4  # a second check makes the same ids: one delivery each
    alerts = {a["id"]: a for a in await json_records(settings, settings.deliveries_topic("email"))}
    assert {a["topic"] for a in alerts.values()} == {"alert:bottleneck"}
    assert len(alerts) == 4
    details = sorted(a["data"]["detail"] for a in alerts.values())
    assert [d.split(" ", 1)[0] for d in details] == ["71", "consult", "counter", "no-shows"]
    assert {a["data"]["counter"] for a in alerts.values()} == {None, "3"}
