"""`vq run`'s demo setup against a real API process: the tenant and queues, the webhook endpoint
pointing at the inbox and the alert, made once, added to an older demo.json that lacks them, and
the demo's arrivals (some asking for email) accepted by the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from tests.integration.servers import api_servers
from vq.demo import ALERT, WEBHOOK_EVENT_TYPES, DemoTraffic, ensure_demo

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
