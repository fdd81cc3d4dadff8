"""POST /v1/queues/{id}/staffing-plans and GET /v1/staffing-plans/{id}: three mornings of a queue
written through the API, then a plan for the next Monday made in the background (its progress
readable as it goes), as JSON and CSV; an edited plan checked as it is; one job per organisation
at a time; another tenant's queue or plan is a 404."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from core.settings import Settings
from vq.api import create_app

PARIS = ZoneInfo("Europe/Paris")
MONDAYS = [datetime(2026, 11, day, 9, 0, tzinfo=PARIS) for day in (9, 16, 23)]


class Clock:
    now = MONDAYS[0]

    def __call__(self) -> datetime:
        return self.now


async def _morning(http: httpx.AsyncClient, clock: Clock, queue: str, start: datetime) -> None:
    """Open at 09:00; one person every 3 minutes until 10:30, served in 5 at two counters."""
    clock.now = start
    assert (await http.post(f"/v1/queues/{queue}/open")).status_code == 200
    busy: dict[str, tuple[str, datetime]] = {}
    waiting, next_arrival = 0, start
    while clock.now < start + timedelta(hours=2):
        if clock.now >= next_arrival and clock.now < start + timedelta(minutes=90):
            assert (await http.post(f"/v1/queues/{queue}/tickets", json={})).status_code == 201
            waiting, next_arrival = waiting + 1, next_arrival + timedelta(minutes=3)
        for counter in ("1", "2"):
            if counter in busy and clock.now >= busy[counter][1]:
                await http.post(f"/v1/tickets/{busy.pop(counter)[0]}/complete")
            if counter not in busy and waiting:
                called = await http.post(f"/v1/queues/{queue}/call-next", json={"counter": counter})
                ticket = called.json()["ticket"]["ticket_id"]
                await http.post(f"/v1/tickets/{ticket}/start")
                busy[counter], waiting = (ticket, clock.now + timedelta(minutes=5)), waiting - 1
        clock.now += timedelta(seconds=30)
    for ticket, _ in busy.values():
        await http.post(f"/v1/tickets/{ticket}/complete")
    assert (await http.post(f"/v1/queues/{queue}/close")).status_code == 200


async def _until_done(http: httpx.AsyncClient, location: str) -> tuple[dict, list[str]]:  # type: ignore[type-arg]
    phases = []
    async with asyncio.timeout(240):
        while True:
            state = (await http.get(location)).json()
            phases.append(state["phase"])
            if state["status"] in ("done", "failed"):
                return state, phases
            await asyncio.sleep(0.3)


async def test_a_plan_made_in_the_background_then_an_edited_one_checked(
    settings: Settings,
) -> None:
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        directory = app.state.services.directory
        _, admin = await directory.create_tenant("Town hall")
        _, stranger = await directory.create_tenant("Other")
        other = {"Authorization": f"Bearer {stranger.secret}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://vq.test",
            headers={"Authorization": f"Bearer {admin.secret}"},
        ) as http:
            body = {"name": "Permits", "counters": ["1", "2"], "timezone": "Europe/Paris",
                    "target_wait_seconds": 600, "status": "closed"}  # fmt: skip
            queue = (await http.post("/v1/queues", json=body)).json()["queue_id"]
            never = (await http.post("/v1/queues", json={**body, "name": "New"})).json()
            refused = await http.post(f"/v1/queues/{never['queue_id']}/staffing-plans")
            assert refused.status_code == 409  # no day to learn from
            for monday in MONDAYS:
                await _morning(http, clock, queue, monday)

            made = await http.post(
                f"/v1/queues/{queue}/staffing-plans", json={"date": "2026-11-30"}
            )
            assert made.status_code == 202, made.text
            location = made.headers["location"]
            assert made.json()["status"] in ("queued", "running")
            again = await http.post(f"/v1/queues/{queue}/staffing-plans", json={})
            assert again.status_code == 409 and again.headers["retry-after"] == "30"
            assert again.json()["type"] == "/problems/plan-under-way"
            assert (await http.get(location, headers=other)).status_code == 404
            assert (await http.post(f"/v1/queues/{queue}/staffing-plans", headers=other)).status_code == 404  # fmt: skip

            state, phases = await _until_done(http, location)
            assert state["status"] == "done", state
            assert "check" in phases or "search" in phases  # progress was readable meanwhile
            plan = state["plan"]
            assert plan["day"] == "2026-11-30" and plan["target_seconds"] == 600
            slots = plan["slots"]
            assert slots[0]["time"] == "09:00" and all(s["counters"] >= 1 for s in slots)
            assert len(plan["checked"]) == 20 and 0 <= plan["checked_share"] <= 1
            table = await http.get(location, params={"format": "csv"})
            assert table.headers["content-type"].startswith("text/csv")
            lines = table.text.strip().splitlines()
            assert lines[0] == "time,forecast,counters" and len(lines) == len(slots) + 1

            edited = [1] * len(slots)
            checked = await http.post(
                f"/v1/queues/{queue}/staffing-plans",
                json={"date": "2026-11-30", "counters": edited},
            )
            assert checked.status_code == 202 and checked.json()["kind"] == "check"
            state, _ = await _until_done(http, checked.headers["location"])
            assert state["status"] == "done"
            assert [s["counters"] for s in state["plan"]["slots"]] == edited

            wrong = await http.post(
                f"/v1/queues/{queue}/staffing-plans", json={"counters": [1, 2, 3]}
            )
            state, _ = await _until_done(http, wrong.headers["location"])
            assert state["status"] == "failed" and "slots" in state["error"]
            bad = await http.post(f"/v1/queues/{queue}/staffing-plans", json={"confidence": 2})
            assert bad.status_code == 422
            # A list of numbers holds JSON numbers: ["1", true] was read as [1, 1].
            laxly = {"counters": ["1", True]}
            bad = await http.post(f"/v1/queues/{queue}/staffing-plans", json=laxly)
            assert bad.status_code == 422 and "JSON numbers" in bad.text, bad.text
