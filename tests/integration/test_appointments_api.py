"""Appointments through the API: slots, booking (with the person's details sealed), moving,
cancelling and checking in with the booking's own token, the bookings list and a site's
iCalendar feed; another tenant's booking is a 404, a full slot a 409."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from core.settings import Settings
from tests.integration.servers import read_side
from vq.api import create_app

MONDAY = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
HOURS = [{"weekday": d, "opens": "08:00", "closes": "16:00"} for d in range(5)]
APPOINTMENTS = {"slot_minutes": 30, "per_slot": 2, "lead_minutes": 10, "grace_minutes": 10}


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> datetime:
        return self.now


def at(hour: int, minute: int = 0) -> str:
    return (MONDAY.replace(hour=hour, minute=minute)).isoformat()


async def test_book_move_cancel_and_check_in(settings: Settings, topics: list[str]) -> None:
    clock = Clock()
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        directory = app.state.services.directory
        tenant, admin = await directory.create_tenant("Registry")
        kiosk = (await directory.create_key(tenant, "kiosk", "kiosk")).secret
        _, other = await directory.create_tenant("Elsewhere")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            as_admin = {"Authorization": f"Bearer {admin.secret}"}
            as_kiosk = {"Authorization": f"Bearer {kiosk}"}
            made = await http.post(
                "/v1/queues",
                headers=as_admin,
                json={
                    "name": "Registry",
                    "site": "Town hall",
                    "opening_hours": HOURS,
                    "appointments": APPOINTMENTS,
                },
            )
            assert made.status_code == 201, made.text
            queue = made.json()["queue_id"]
            walk_ins = (
                await http.post("/v1/queues", headers=as_admin, json={"name": "Walk-ins"})
            ).json()["queue_id"]

            slots = await http.get(
                f"/v1/queues/{queue}/slots",
                headers=as_kiosk,
                params={"from": at(7), "to": at(10)},
            )
            assert slots.status_code == 200, slots.text
            assert [(s["slot_at"][11:16], s["free"]) for s in slots.json()["slots"]] == [
                ("08:00", 2),
                ("08:30", 2),
                ("09:00", 2),
                ("09:30", 2),
            ]
            tokyo = await http.post(
                "/v1/queues",
                headers=as_admin,
                json={"name": "Tokyo", "timezone": "Asia/Tokyo", "appointments": {}},
            )
            for far in ("9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00-10:00"):
                edge = await http.get(
                    f"/v1/queues/{tokyo.json()['queue_id']}/slots",
                    headers=as_kiosk,
                    params={"from": far, "to": far},
                )
                assert (edge.status_code, edge.json()["slots"]) == (200, []), edge.text
            none = await http.get(f"/v1/queues/{walk_ins}/slots", headers=as_kiosk)
            assert none.status_code == 409  # takes no appointments

            contact = {"name": "Ana Ruiz", "email": "ana@example.org"}
            first = await http.post(
                f"/v1/queues/{queue}/appointments",
                headers=as_kiosk,
                json={"slot_at": at(9), "contact": contact},
            )
            assert first.status_code == 201, first.text
            booking, token = first.json()["appointment_id"], first.json()["token"]
            assert first.headers["location"] == f"/v1/appointments/{booking}"
            assert "Ana" not in first.text
            # The details are sealed in the booking; the person's export opens them.
            held = await http.post(
                "/v1/personal-data/export", headers=as_admin, json={"email": "ANA@example.org"}
            )
            assert [t["details"]["name"] for t in held.json()["tickets"]] == ["Ana Ruiz"]
            await http.post(
                f"/v1/queues/{queue}/appointments", headers=as_kiosk, json={"slot_at": at(9)}
            )
            full = await http.post(
                f"/v1/queues/{queue}/appointments", headers=as_kiosk, json={"slot_at": at(9)}
            )
            assert (full.status_code, full.json()["type"].rsplit("/", 1)[-1]) == (409, "slot-full")
            askew = await http.post(
                f"/v1/queues/{queue}/appointments", headers=as_kiosk, json={"slot_at": at(9, 10)}
            )
            assert askew.status_code == 409, askew.text  # not a slot: rule-violated

            mine = {"X-Ticket-Token": token}
            moved = await http.post(
                f"/v1/appointments/{booking}/reschedule", headers=mine, json={"slot_at": at(8, 30)}
            )
            assert moved.status_code == 200, moved.text
            seen = await http.get(f"/v1/appointments/{booking}", headers=mine)
            assert seen.json()["slot_at"].startswith("2026-11-30T08:30")
            assert seen.json()["status"] == "booked"
            stranger = await http.get(
                f"/v1/appointments/{booking}", headers={"Authorization": f"Bearer {other.secret}"}
            )
            assert stranger.status_code == 404
            wrong = await http.post(
                f"/v1/appointments/{booking}/cancel", headers={"X-Ticket-Token": "nope"}, json={}
            )
            assert wrong.status_code == 401

            clock.now = MONDAY.replace(hour=7, minute=29)  # more than an hour before: too early
            early = await http.post(f"/v1/appointments/{booking}/check-in", headers=mine)
            assert early.status_code == 409, early.text
            assert early.json()["opens_at"].startswith("2026-11-30T07:30")  # an hour before
            clock.now = MONDAY.replace(hour=8, minute=25)
            walk_in = await http.post(f"/v1/queues/{queue}/tickets", headers=as_kiosk, json={})
            assert walk_in.status_code == 201, walk_in.text
            arrived = await http.post(f"/v1/appointments/{booking}/check-in", headers=mine)
            assert arrived.status_code == 200, arrived.text
            ticket = arrived.json()["ticket"]
            # Its ticket has the booking's id, and stands at 08:20: ahead of the 08:25 walk-in.
            assert (ticket["ticket_id"], ticket["position"]) == (booking, 1)
            again = await http.post(f"/v1/appointments/{booking}/cancel", headers=mine, json={})
            assert again.status_code == 409  # checked in: only the ticket can be cancelled now

            listed = await http.get(f"/v1/queues/{queue}/appointments", headers=as_admin)
            statuses = sorted(a["status"] for a in listed.json()["appointments"])
            assert statuses == ["booked", "checked_in"]
            # The feed lists the site's queues from the read side.
            with read_side(settings):
                seen = await http.get(
                    f"/v1/queues/{queue}", headers=as_admin, params={"min_version": 1, "wait": 30}
                )
                assert seen.status_code == 200, seen.text
            feed = await http.get(
                "/v1/sites/Town hall/appointments.ics", params={"access_token": admin.secret}
            )
            assert feed.status_code == 200, feed.text
            assert feed.headers["content-type"].startswith("text/calendar")
            assert (
                feed.text.startswith("BEGIN:VCALENDAR\r\n") and feed.text.count("BEGIN:VEVENT") == 2
            )
            assert "Ana" not in feed.text
            clock.now = MONDAY.replace(hour=9, minute=11)
            listed = await http.get(f"/v1/queues/{queue}/appointments", headers=as_admin)
            assert sorted(a["status"] for a in listed.json()["appointments"]) == [
                "checked_in",
                "missed",
            ]


async def test_a_booking_says_its_language(settings: Settings, topics: list[str]) -> None:
    """The booking's page opens in the booking's language, as a ticket's page does in the
    ticket's (web/static/ticket.js): the booking, read with its token or a key, says which, and
    the API's document describes the field."""
    app = create_app(settings, clock=Clock())
    async with app.router.lifespan_context(app):
        _, admin = await app.state.services.directory.create_tenant("Mairie")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            as_admin = {"Authorization": f"Bearer {admin.secret}"}
            made = await http.post(
                "/v1/queues",
                headers=as_admin,
                json={"name": "État civil", "opening_hours": HOURS, "appointments": APPOINTMENTS},
            )
            queue = made.json()["queue_id"]
            booked = [
                await http.post(f"/v1/queues/{queue}/appointments", headers=as_admin, json=body)
                for body in ({"slot_at": at(9), "language": "fr"}, {"slot_at": at(9, 30)})
            ]
            assert [b.status_code for b in booked] == [201, 201], booked[0].text
            french, plain = (b.json() for b in booked)

            mine = {"X-Ticket-Token": french["token"]}
            seen = await http.get(f"/v1/appointments/{french['appointment_id']}", headers=mine)
            assert (seen.status_code, seen.json()["language"]) == (200, "fr"), seen.text
            listed = await http.get(f"/v1/queues/{queue}/appointments", headers=as_admin)
            assert {a["appointment_id"]: a["language"] for a in listed.json()["appointments"]} == {
                french["appointment_id"]: "fr",
                plain["appointment_id"]: None,  # none given: the page keeps the browser's
            }
            document = (await http.get("/openapi.json")).json()
            field = document["components"]["schemas"]["BookingOut"]["properties"]["language"]
            assert "booked in" in field["description"]
