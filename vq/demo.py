"""The demo tenant `vq run` shows: its queues, its webhook endpoint and alert, and its traffic.

Everything but the tenant and its keys is made through the HTTP API, as a client would. What was
made is remembered in `<data_dir>/demo.json` so a second run reuses it; what an older demo.json
lacks (the inbox's endpoint, the alert) is added.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import sys
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

import httpx

from access.directory import TenantDirectory
from access.passwords import hash_password
from access.users import insert_user
from core.settings import Settings
from domain.commands import CreateQueue
from domain.config import QueueConfig
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from simulation import live, live_adopt
from simulation.live import window
from simulation.live_api import request_for
from simulation.scenario import Scenario, load

DEMO_QUEUES: tuple[dict[str, Any], ...] = (
    {
        "name": "Reception",
        "prefix": "R",
        "counters": ["1", "2", "3", "4"],
        "service_types": ["check-in", "billing"],
        "aging_after_seconds": 600,
    },
    {"name": "Pharmacy", "prefix": "P", "counters": ["A", "B"]},
    {
        "name": "Laboratory",
        "prefix": "L",
        "counters": ["Lab 1"],
        "capacity": 40,
        # Bookable too: the staff console lists today's bookings and books one (issue 16).
        "appointments": {"slot_minutes": 15, "per_slot": 2},
    },
)
WEBHOOK_EVENT_TYPES = (
    "TicketEnqueued",
    "TicketCalled",
    "TicketServed",
    "TicketNoShow",
    "QueuePaused",
    "QueueResumed",
)
ALERT = {"condition": "joined_empty_queue", "channel": "email", "address": "manager@demo.example"}
DEMO_ADMIN = "admin@demo.example"
DEMO_STAFF = "staff@demo.example"
# The demo's own traffic calls at these counters; the others are left for a person trying the
# staff console (Reception's counter 4).
TRAFFIC_COUNTERS = 3
# About one arrival in this many asks to be told by email (two ahead, then called).
EMAIL_ONE_IN = 3


def ensure_demo(
    settings: Settings, base: str, inbox_url: str, traffic: bool = False
) -> dict[str, Any]:
    """The demo tenant, made once and remembered in the data folder; its webhook endpoint points
    at `inbox_url` (the demo inbox's `/webhooks`); with `traffic`, the queue ScenarioTraffic
    plays its days on (`traffic_queue`)."""
    path = settings.data_dir / "demo.json"
    demo: dict[str, Any] | None = None
    if path.exists():
        demo = json.loads(path.read_text())
        if not _key_works(base, demo["admin_key"]):  # the database was wiped: make it anew
            demo = None
    if demo is None:
        demo = asyncio.run(_make_tenant(settings))
        demo["queues"] = [
            _admin_post(base, demo, "/v1/queues", body)["queue_id"] for body in DEMO_QUEUES
        ]
    _ensure_webhook(base, demo, inbox_url)
    # An older demo's queues gain what this one's have (Reception's counter 4, for a person;
    # the Laboratory's bookings).
    for queue_id, body in zip(demo["queues"], DEMO_QUEUES, strict=True):
        kept = {k: body[k] for k in ("counters", "appointments") if k in body}
        _admin_patch(base, demo, f"/v1/queues/{queue_id}", kept)
    if "alert_id" not in demo:
        demo["alert_id"] = _admin_post(base, demo, "/v1/alerts", ALERT)["alert_id"]
    if "admin_email" not in demo:
        password = asyncio.run(_make_person(settings, demo["tenant_id"], DEMO_ADMIN, "admin"))
        demo |= {"admin_email": DEMO_ADMIN, "admin_password": password}
    if "staff_email" not in demo:
        password = asyncio.run(_make_person(settings, demo["tenant_id"], DEMO_STAFF, "staff"))
        demo |= {"staff_email": DEMO_STAFF, "staff_password": password}
    if "display_key" not in demo:
        demo["display_key"] = asyncio.run(_make_key(settings, demo["tenant_id"], "display"))
    if traffic:  # only a run that plays the scenario's day reads it and asks the store
        config, known = load(DEMO_SCENARIO).queue_config, demo.get("traffic_queue")
        if not (
            known and asyncio.run(live_adopt.playable(settings, known, demo["tenant_id"], config))
        ):
            _ensure_traffic_queue(base, demo, config)
    path.write_text(json.dumps(demo, indent=2))
    path.chmod(0o600)
    return demo


async def _make_tenant(settings: Settings) -> dict[str, Any]:
    pool = await open_pool(settings, wait=True)
    try:
        directory = TenantDirectory(PostgresEventStore(pool))
        tenant_id, admin = await directory.create_tenant("Demo Clinic")
        staff = await directory.create_key(tenant_id, "demo staff", "staff")
        kiosk = await directory.create_key(tenant_id, "demo kiosk", "kiosk")
        viewer = await directory.create_key(tenant_id, "demo board", "viewer")
    finally:
        await pool.close()
    return {
        "tenant_id": tenant_id,
        "admin_key": admin.secret,
        "staff_key": staff.secret,
        "kiosk_key": kiosk.secret,
        "viewer_key": viewer.secret,
    }


async def _make_key(settings: Settings, tenant_id: str, role: Literal["display"]) -> str:
    pool = await open_pool(settings, wait=True)
    try:
        return (
            await TenantDirectory(PostgresEventStore(pool)).create_key(
                tenant_id, f"demo {role}", role
            )
        ).secret
    finally:
        await pool.close()


async def _make_person(settings: Settings, tenant_id: str, email: str, role: str) -> str:
    """A person who signs in (the staff and admin consoles) with a new password, returned."""
    password = secrets.token_urlsafe(12)
    pool = await open_pool(settings, wait=True)
    try:
        async with pool.connection() as conn:
            await insert_user(
                conn,
                tenant_id=tenant_id,
                email=email,
                name=f"Demo {role}",
                role=role,
                password_hash=await hash_password(password),
                verified=True,
            )
    finally:
        await pool.close()
    return password


def _ensure_webhook(base: str, demo: dict[str, Any], url: str) -> None:
    """The endpoint that sends the demo's events to the inbox (`demo["webhook"]`: its id, URL
    and secret). The API refuses a loopback URL unless VQ_OUTBOUND_ALLOW lets it: then the demo
    goes on without webhooks, and says why."""
    known = demo.get("webhook")
    if known is not None and known["url"] == url:
        return
    headers = {"Authorization": f"Bearer {demo['admin_key']}"}
    if known is not None:  # the inbox moved (--inbox-port): the endpoint follows, secret and all
        path = f"/v1/webhooks/endpoints/{known['endpoint_id']}"
        response = httpx.patch(f"{base}{path}", json={"url": url}, headers=headers, timeout=10)
        if response.status_code == 200:
            known["url"] = url
            return
    body = {"url": url, "description": "demo inbox", "event_types": list(WEBHOOK_EVENT_TYPES)}
    response = httpx.post(f"{base}/v1/webhooks/endpoints", json=body, headers=headers, timeout=10)
    if response.status_code == 409:
        print(f"vq run: no demo webhooks: the API refused {url}: {response.text}", file=sys.stderr)
        demo.pop("webhook", None)
        return
    response.raise_for_status()
    made = response.json()
    demo["webhook"] = {"endpoint_id": made["endpoint_id"], "url": url, "secret": made["secret"]}


def _ensure_traffic_queue(base: str, demo: dict[str, Any], config: QueueConfig) -> None:
    """The scenario's queue, made once: each run plays its day there (its history grows from run
    to run; an earlier run's leftovers are ended first: simulation/live_adopt.py)."""
    body = request_for(
        CreateQueue(queue_id="", tenant_id="", config=config, status="closed"), "", {}
    ).body
    demo["traffic_queue"] = _admin_post(base, demo, "/v1/queues", body)["queue_id"]


def _admin_post(base: str, demo: dict[str, Any], path: str, body: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base}{path}",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {demo['admin_key']}"},
    )
    response.raise_for_status()
    return dict(response.json())


def _admin_patch(base: str, demo: dict[str, Any], path: str, body: Any) -> None:
    response = httpx.patch(
        f"{base}{path}",
        json=body,
        headers={"Authorization": f"Bearer {demo['admin_key']}"},
        timeout=10,
    )
    if response.status_code != 200:
        raise SystemExit(f"vq run: could not update the demo ({path}): {response.text}")


def _key_works(base: str, key: str) -> bool:
    response = httpx.get(f"{base}/v1/keys", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    return response.status_code == 200


class DemoTraffic:
    """A gentle stream of arrivals, calls and services so the demo queues look alive."""

    def __init__(self, base: str, demo: dict[str, Any], rate: float) -> None:
        self._rng = random.Random()
        self._client = httpx.Client(base_url=base, timeout=5)
        self._demo = demo
        self._interval = 1.0 / max(rate * len(demo["queues"]), 0.01)
        self._next = time.monotonic()
        self._at_counter: dict[tuple[str, str], str] = {}  # (queue, counter) -> ticket called
        self._people = 0  # numbers the demo's email addresses
        self._resume()

    def _resume(self) -> None:
        """Take over the tickets a previous run left at the counters, so they get served (else
        they would hold their counter forever, and the estimators would learn that)."""
        for queue_id in self._demo["queues"]:
            try:
                response = self._client.get(
                    f"/v1/queues/{queue_id}",
                    headers={"Authorization": f"Bearer {self._demo['staff_key']}"},
                )
            except httpx.TransportError:
                return
            if response.status_code != 200:
                continue
            for serving in response.json().get("now_serving", []):
                self._at_counter[(queue_id, serving["counter"])] = serving["ticket_id"]

    def step(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self._rng.expovariate(1.0 / self._interval)
        index = self._rng.randrange(len(self._demo["queues"]))
        queue_id = self._demo["queues"][index]
        try:
            if self._rng.random() < 0.5:
                self._post(
                    self._demo["kiosk_key"], f"/v1/queues/{queue_id}/tickets", self._arrival()
                )
            else:
                counters = DEMO_QUEUES[index]["counters"][:TRAFFIC_COUNTERS]
                self._serve(queue_id, self._rng.choice(counters))
        except httpx.TransportError:
            pass  # the API restarting; the next step tries again

    def _arrival(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "priority": self._rng.choice(["normal"] * 8 + ["vip", "urgent"]),
            "channel": self._rng.choice(["kiosk", "web", "qr"]),
        }
        if self._rng.randrange(EMAIL_ONE_IN) == 0:
            self._people += 1
            address = f"person{self._people}@demo.example"
            body["notify"] = [{"channel": "email", "address": address, "when": {"ahead": 2}}]
        return body

    def _serve(self, queue_id: str, counter: str) -> None:
        """Finish whoever the counter called last (or mark a no-show), then call the next."""
        staff = self._demo["staff_key"]
        previous = self._at_counter.pop((queue_id, counter), None)
        if previous is not None:
            if self._rng.random() < 0.07:
                self._post(staff, f"/v1/tickets/{previous}/no-show")
            else:
                self._post(staff, f"/v1/tickets/{previous}/start")
                self._post(staff, f"/v1/tickets/{previous}/complete")
        called = self._post(staff, f"/v1/queues/{queue_id}/call-next", {"counter": counter})
        if called is not None and called.get("ticket"):
            self._at_counter[(queue_id, counter)] = called["ticket"]["ticket_id"]

    def close(self) -> None:
        self._client.close()

    def _post(
        self, key: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        response = self._client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        return dict(response.json()) if response.status_code in (200, 201) else None


# The demo's scenario: a simulated clinic day (skewed consultations, urgent cases, no-shows,
# staggered lunch breaks) played through the API on an accelerated clock, so services take time
# between start and complete and the dashboard's utilisation, service times and estimates are
# what a real clinic would show. At 10x the day (08:00-17:00) takes 54 minutes.
DEMO_SCENARIO = "clinic"
DEMO_SPEED = 10.0
# The API's clock starts this long before the scenario opens (the demo's start-up fits in it).
DEMO_LEAD = timedelta(minutes=5)


def demo_clock(today: date | None = None, after: date | None = None) -> tuple[datetime, float]:
    """(VQ_CLOCK_START, VQ_CLOCK_SPEED) for the API of a demo: a little before the scenario's
    opening today (or the next day it opens, and after `after`), at DEMO_SPEED."""
    day = today or date.today()
    if after is not None and day <= after:
        day = after + timedelta(days=1)
    scenario = _scenario_on(day)
    _, opens, _ = window(scenario, 1.0, None)
    return opens - DEMO_LEAD, DEMO_SPEED


def next_demo_clock(settings: Settings) -> tuple[datetime, float]:
    """The demo clock of this run: a day after the last run's (remembered in the data folder),
    so a second `vq run` never stamps the demo's queues earlier than the first one did."""
    path = settings.data_dir / "demo-clock.json"
    after = None
    if path.exists():
        after = date.fromisoformat(json.loads(path.read_text())["day"])
    elif (settings.data_dir / "demo.json").exists():
        after = date.today()  # an older demo stamped its queues with the real time of today
    start, speed = demo_clock(after=after)
    # Ten days of demo a run at most (10x: a day per 2.4 h): the next run starts after them.
    last = (start + timedelta(days=10)).date()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"day": last.isoformat()}))
    return start, speed


def _scenario_on(day: date) -> Scenario:
    scenario = load(DEMO_SCENARIO)
    while day.weekday() not in scenario.weekdays:
        day += timedelta(days=1)
    return replace(scenario, start=day)


class ScenarioTraffic:
    """The demo's traffic: `vq simulate --live` of DEMO_SCENARIO's day in the demo tenant, in a
    thread of its own (the same driver: commands sent when the API's accelerated clock reaches
    their time, each reaction following what the API decided). Its queue is the scenario's
    ("Clinic reception"), next to the demo queues a person may try by hand."""

    def __init__(
        self, settings: Settings, base: str, demo: dict[str, Any], clock_start: datetime
    ) -> None:
        scenario = _scenario_on((clock_start + DEMO_LEAD).date())
        hours = (scenario.closes - scenario.opens) / 60.0
        self._options = live.LiveOptions(
            api=base,
            scenario=scenario,
            hours=hours,
            seed=1,
            key=demo["admin_key"],
            finish_day=True,  # the day ends closed, with nobody left at a counter
            queue_id=demo.get("traffic_queue"),
            role_keys={role: demo[f"{role}_key"] for role in live.ROLES},
        )
        self._settings = settings
        self.result: live.LiveResult | None = None
        self.error: str | None = None
        self._thread = threading.Thread(target=self._play, name="demo-traffic", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        try:
            self.result = asyncio.run(live.run(self._options, self._settings, _quiet))
        except (live.LiveError, httpx.HTTPError, OSError) as exc:
            self.error = str(exc)
            print(f"vq run: the demo traffic stopped: {exc}", file=sys.stderr)

    def step(self) -> None:
        """Nothing to do per tick: the thread plays the day (kept for `vq run`'s loop)."""

    def close(self) -> None:
        """The thread is a daemon: it ends with the process."""


def _quiet(line: str) -> None:
    """The driver's progress lines would flood `vq run`'s terminal: they are dropped, but for
    the one that names the played queue's board (the queues in the banner are the ones a person
    tries by hand; this one is where the day's traffic is)."""
    if "watch it live" in line or "earlier day" in line:
        print(f"  demo traffic     {line}", flush=True)
