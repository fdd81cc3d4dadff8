"""`vq run`'s demo setup against a real API process: the tenant and queues, the webhook endpoint
pointing at the inbox and the alert, made once, added to an older demo.json that lacks them, and
the demo's arrivals (some asking for email) accepted by the API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from simulation import live_adopt
from simulation.scenario import load
from tests.integration.servers import api_servers
from vq.demo import ALERT, DEMO_SCENARIO, WEBHOOK_EVENT_TYPES, DemoTraffic, ensure_demo

INBOX = "http://127.0.0.1:8025/webhooks"


def _get(base: str, demo: dict[str, Any], path: str) -> Any:
    headers = {"Authorization": f"Bearer {demo['admin_key']}"}
    response = httpx.get(f"{base}{path}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_demo_has_an_inbox_endpoint_and_an_alert(settings: Settings, tmp_path: Path) -> None:
    local = settings.model_copy(update={"outbound_allow": "127.0.0.1/32", "data_dir": tmp_path})
    with api_servers(local, 1) as [base]:
        demo = ensure_demo(local, base, INBOX)

        [endpoint] = _get(base, demo, "/v1/webhooks/endpoints")["endpoints"]
        assert endpoint["url"] == INBOX and endpoint["description"] == "demo inbox"
        assert endpoint["event_types"] == list(WEBHOOK_EVENT_TYPES)
        assert demo["webhook"]["endpoint_id"] == endpoint["endpoint_id"]
        assert demo["webhook"]["secret"].startswith("whsec_")
        [alert] = _get(base, demo, "/v1/alerts")["alerts"]
        assert {k: alert[k] for k in ALERT} == ALERT
        assert json.loads((tmp_path / "demo.json").read_text()) == demo

        assert ensure_demo(local, base, INBOX) == demo  # a second run reuses it all
        assert len(_get(base, demo, "/v1/webhooks/endpoints")["endpoints"]) == 1

        # The demo's admin is a person too, who signs in with the password `vq run` prints.
        login = {"tenant_id": demo["tenant_id"], "email": demo["admin_email"],
                 "password": demo["admin_password"]}  # fmt: skip
        signed_in = httpx.post(f"{base}/v1/auth/login", json=login, timeout=10)
        assert signed_in.status_code == 200, signed_in.text
        token = {"admin_key": signed_in.json()["access_token"]}
        assert _get(base, token, "/v1/me")["role"] == "admin"
        # ... and so is a member of staff (the staff console), and the lobby display has a key.
        login = {"tenant_id": demo["tenant_id"], "email": demo["staff_email"],
                 "password": demo["staff_password"]}  # fmt: skip
        signed_in = httpx.post(f"{base}/v1/auth/login", json=login, timeout=10)
        assert signed_in.status_code == 200, signed_in.text
        assert signed_in.json()["user"]["role"] == "staff"
        display = {"admin_key": demo["display_key"]}
        assert "queues" in _get(base, display, "/v1/queues")  # (the list needs the worker)


def test_an_older_demo_gains_them_and_the_endpoint_follows_the_inbox(
    settings: Settings, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"outbound_allow": "127.0.0.1/32", "data_dir": tmp_path})
    with api_servers(local, 1) as [base]:
        first = ensure_demo(local, base, INBOX)
        older = {k: v for k, v in first.items() if k not in ("webhook", "alert_id")}
        (tmp_path / "demo.json").write_text(json.dumps(older))

        again = ensure_demo(local, base, INBOX)
        assert again["tenant_id"] == first["tenant_id"] and again["queues"] == first["queues"]
        assert again["webhook"]["endpoint_id"] != first["webhook"]["endpoint_id"]
        assert "alert_id" in again

        moved = ensure_demo(local, base, "http://127.0.0.1:8026/webhooks")
        assert moved["webhook"]["endpoint_id"] == again["webhook"]["endpoint_id"]
        assert moved["webhook"]["secret"] == again["webhook"]["secret"]
        path = f"/v1/webhooks/endpoints/{moved['webhook']['endpoint_id']}"
        assert _get(base, moved, path)["url"] == "http://127.0.0.1:8026/webhooks"


def test_the_demo_arrivals_that_ask_for_email_are_accepted(
    settings: Settings, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"outbound_allow": "127.0.0.1/32", "data_dir": tmp_path})
    with api_servers(local, 1) as [base]:
        demo = ensure_demo(local, base, INBOX)
        traffic = DemoTraffic(base, demo, rate=1.0)
        arrivals = [traffic._arrival() for _ in range(60)]
        traffic.close()
        with_email = [a for a in arrivals if "notify" in a]
        assert 5 < len(with_email) < 40  # about one in three

        response = httpx.post(
            f"{base}/v1/queues/{demo['queues'][0]}/tickets",
            json=with_email[0],
            headers={"Authorization": f"Bearer {demo['kiosk_key']}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        assert len(response.json()["subscriptions"]) == 1


def test_the_traffic_plays_each_day_on_one_queue_whose_earlier_day_is_ended_first(
    settings: Settings, tmp_path: Path
) -> None:
    """`vq run` plays a day of the scenario each time it starts: on the same queue (its history
    grows; no queue of the same name per run), the day a stopped run left behind ended first."""
    local = settings.model_copy(update={"outbound_allow": "127.0.0.1/32", "data_dir": tmp_path})
    with api_servers(local, 1) as [base]:
        demo = ensure_demo(local, base, INBOX, traffic=True)
        queue_id = demo["traffic_queue"]
        assert ensure_demo(local, base, INBOX, traffic=True)["traffic_queue"] == queue_id
        # From the system of record: the read side is not running here.
        made = asyncio.run(_state(local, demo["tenant_id"], queue_id))
        assert (made.config.name, made.status, made.version) == ("Clinic reception", "closed", 1)

        # A run stopped midway: the queue open, one called, one served, two waiting.
        def post(path: str, key: str, body: Any = None) -> Any:
            headers = {"Authorization": f"Bearer {demo[key]}"}
            response = httpx.post(f"{base}{path}", json=body, headers=headers, timeout=10)
            assert response.status_code < 300, response.text
            return response.json()

        queue = f"/v1/queues/{queue_id}"
        post(f"{queue}/open", "staff_key")
        # (The scenario's queue keeps the clinic's hours: staff let people in at any hour.)
        anytime = {"allow_outside_hours": True}
        tickets = [
            post(f"{queue}/tickets", "staff_key", anytime)["ticket"]["ticket_id"] for _ in range(4)
        ]
        post(f"{queue}/call-next", "staff_key", {"counter": "1"})
        post(f"{queue}/call-next", "staff_key", {"counter": "2"})
        post(f"/v1/tickets/{tickets[1]}/start", "staff_key")

        async def adopt() -> dict[str, int]:
            state = await _state(local, demo["tenant_id"], queue_id)
            assert live_adopt.fits(state, load(DEMO_SCENARIO).queue_config)
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:

                async def call(method: str, path: str, key: str, **kw: Any) -> Any:
                    headers = {"Authorization": f"Bearer {key}"}
                    return await http.request(method, path, headers=headers, **kw)

                return await live_adopt.end_earlier_day(state, call, demo["staff_key"])

        ended = asyncio.run(adopt())
        after = asyncio.run(_state(local, demo["tenant_id"], queue_id))
        assert ended == {"no-show": 1, "complete": 1, "cancel": 2, "close": 1}
        assert after.status == "closed" and after.waiting_count == 0
        assert not any(after.at_counters.values())
        statuses = [after.tickets[t].status for t in tickets]
        assert statuses == ["no_show", "served", "cancelled", "cancelled"]
        # Nothing is left to end: a second adoption sends nothing.
        assert live_adopt.endings(after) == []

        # A remembered queue the scenario cannot be played on (Reception: other service types)
        # is not played again and again beside a new one each run: another is made, and kept.
        (tmp_path / "demo.json").write_text(json.dumps(demo | {"traffic_queue": demo["queues"][0]}))
        remade = ensure_demo(local, base, INBOX, traffic=True)["traffic_queue"]
        assert remade not in (queue_id, demo["queues"][0])
        assert ensure_demo(local, base, INBOX, traffic=True)["traffic_queue"] == remade


async def _state(settings: Settings, tenant_id: str, queue_id: str) -> Any:
    pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
    try:
        return await live_adopt.queue_state(PostgresEventStore(pool), tenant_id, queue_id)
    finally:
        await pool.close()
