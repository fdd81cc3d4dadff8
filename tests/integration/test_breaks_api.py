"""Counters' breaks through the API: staff set one (now or planned), the queue's view lists it,
staff end it early; kiosks may not, another tenant's queue is a 404, nonsense a 409."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from core.settings import Settings
from tests.integration.servers import read_side
from vq.api import create_app

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def test_a_break_is_set_shown_and_ended(settings: Settings, topics: list[str]) -> None:
    app = create_app(settings, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        directory = app.state.services.directory
        tenant, admin = await directory.create_tenant("Clinic")
        staff = (await directory.create_key(tenant, "desk", "staff")).secret
        kiosk = (await directory.create_key(tenant, "kiosk", "kiosk")).secret
        _, other = await directory.create_tenant("Elsewhere")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            as_admin = {"Authorization": f"Bearer {admin.secret}"}
            as_staff = {"Authorization": f"Bearer {staff}"}
            made = await http.post(
                "/v1/queues", headers=as_admin, json={"name": "GP", "counters": ["1", "2"]}
            )
            assert made.status_code == 201, made.text
            queue = made.json()["queue_id"]
            back = (NOW + timedelta(minutes=30)).isoformat()
            body = {"counter": "2", "ends_at": back}

            refused = await http.post(
                f"/v1/queues/{queue}/breaks",
                headers={"Authorization": f"Bearer {kiosk}"},
                json=body,
            )
            assert refused.status_code == 403, refused.text
            elsewhere = await http.post(
                f"/v1/queues/{queue}/breaks",
                headers={"Authorization": f"Bearer {other.secret}"},
                json=body,
            )
            assert elsewhere.status_code == 404, elsewhere.text
            unknown = await http.post(
                f"/v1/queues/{queue}/breaks", headers=as_staff, json={**body, "counter": "7"}
            )
            assert unknown.status_code == 409 and "unknown counter" in unknown.json()["detail"]

            went = await http.post(f"/v1/queues/{queue}/breaks", headers=as_staff, json=body)
            assert went.status_code == 200, went.text
            assert went.json()["event_types"] == ["CounterBreakSet"]
            minutes = await http.post(
                f"/v1/queues/{queue}/breaks", headers=as_staff, json={"counter": "2", "minutes": 30}
            )
            assert minutes.status_code == 200, minutes.text  # the same break, said again
            both = await http.post(
                f"/v1/queues/{queue}/breaks",
                headers=as_staff,
                json={
                    "counter": "1",
                    "starts_at": (NOW + timedelta(hours=3)).isoformat(),
                    "starts_in_minutes": 180,
                    "minutes": 60,
                },
            )
            assert both.status_code == 422, both.text
            assert "at most one of the two" in both.text
            # Planned by the service's clock: in 3 hours, for one (a console's way).
            planned = await http.post(
                f"/v1/queues/{queue}/breaks",
                headers=as_staff,
                json={"counter": "1", "starts_in_minutes": 180, "minutes": 60},
            )
            assert planned.status_code == 200, planned.text

            with read_side(settings):
                seen = await http.get(
                    f"/v1/queues/{queue}", headers=as_staff, params={"min_version": 4, "wait": 30}
                )
                assert seen.status_code == 200, seen.text
                breaks = seen.json()["breaks"]
                assert [(b["counter"], b["starts_at"], b["ends_at"]) for b in breaks] == [
                    ("1", "2026-11-30T12:00:00Z", "2026-11-30T13:00:00Z"),
                    ("2", "2026-11-30T09:00:00Z", "2026-11-30T09:30:00Z"),
                ]

                ended = await http.post(
                    f"/v1/queues/{queue}/breaks/end", headers=as_staff, json={"counter": "2"}
                )
                assert ended.status_code == 200, ended.text
                again = await http.post(
                    f"/v1/queues/{queue}/breaks/end", headers=as_staff, json={"counter": "2"}
                )
                assert again.status_code == 409, again.text
                assert again.json()["type"].endswith("invalid-transition")
                seen = await http.get(
                    f"/v1/queues/{queue}", headers=as_staff, params={"min_version": 5, "wait": 30}
                )
                assert [b["counter"] for b in seen.json()["breaks"]] == ["1"]
