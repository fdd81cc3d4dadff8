"""The end of a day that cannot serve everyone: a queue closed with those still waiting sent home
(`POST /v1/queues/{id}/close` with `cancel_waiting`). Each one waiting is cancelled before the
close and told so by the notifications they asked for (an SMS here, through a provider speaking
Twilio's API): the queue closed, not "closed to new arrivals: your ticket is still valid" (nor a
staff cancel's "if this is a mistake, take a new ticket"); who turned that message
off gets nothing; the person at the counter stays there. It needs `tickets:operate` as well as
`queues:operate`, and a closed queue with nobody waiting has nothing to send home."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.reach import (
    delivery_topics,
    notifier,
    pipeline_running,
    quiet_for,
    receiving,
)
from tests.integration.servers import Process, stop_all
from tests.receivers.provider import ProviderReceiver
from tests.receivers.smtp import SmtpReceiver

STARTUP_S = 40.0
# No confirmation first, and no place in line told: the messages counted are the close's.
UNASKED = {"subscribed": False, "ahead": None, "eta_minutes": None}


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver, provider: ProviderReceiver) -> Settings:
    return receiving(settings, smtp, provider)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


async def test_those_waiting_are_told_their_place_is_cancelled_and_the_called_one_stays(
    api: ApiClient, smtp: SmtpReceiver, provider: ProviderReceiver, pipeline: None
) -> None:
    queue_id = await api.create_queue(name="Passports", counters=["1"])
    first = (await api.enqueue(queue_id))["ticket"]
    told = await api.enqueue(
        queue_id, notify=[{"channel": "sms", "address": "+447700900124", "when": UNASKED}]
    )
    quiet = await api.enqueue(
        queue_id,
        notify=[
            {
                "channel": "email",
                "address": "bo@example.com",
                "when": {"cancelled": False, **UNASKED},
            }
        ],
    )
    called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": "1"})
    assert called.json()["ticket"]["ticket_id"] == first["ticket_id"]
    # The day went on for a while: the read side shows the line (the notifier names the queue
    # and the ticket's number from it).
    seen = await api.http.get(
        f"/v1/queues/{queue_id}",
        params={"min_version": called.json()["stream_version"], "wait": 20},
        headers=api.auth(),
    )
    assert seen.status_code == 200, seen.text

    # A key that may close queues but not act on tickets may not send anyone home.
    made = await api.post(
        "/v1/keys", json={"name": "doors", "role": "staff", "scopes": ["queues:operate", "read"]}
    )
    assert made.status_code == 201, made.text
    doors = {"Authorization": f"Bearer {made.json()['secret']}"}
    send_home = {"reason": "we close at 5", "cancel_waiting": True}
    refused = await api.http.post(f"/v1/queues/{queue_id}/close", json=send_home, headers=doors)
    assert refused.status_code == 403, refused.text

    closed = await api.post(f"/v1/queues/{queue_id}/close", "staff", json=send_home)
    assert closed.status_code == 200, closed.text
    assert closed.json()["event_types"] == ["TicketCancelled", "TicketCancelled", "QueueClosed"]

    [sms] = await provider.wait_for(1, STARTUP_S)
    number = told["ticket"]["number"]
    assert sms.to == "+447700900124"
    # Told the queue closed, not "if this is a mistake, take a new ticket" (of a staff cancel).
    assert sms.body == (
        f"{number}: Passports has closed and can no longer serve you, so your place in line is"
        " cancelled. We are sorry."
    ), sms.body
    await quiet_for()
    assert [m.body for m in provider.messages] == [sms.body]  # not "still valid" after it
    assert smtp.messages == []  # turned off: neither the cancellation nor the close

    version = closed.json()["stream_version"]
    for ticket, status in (
        (first, "called"),
        (told["ticket"], "cancelled"),
        (quiet["ticket"], "cancelled"),
    ):
        read = await api.http.get(
            f"/v1/tickets/{ticket['ticket_id']}",
            params={"min_version": version, "wait": 10},
            headers=api.auth(),
        )
        assert read.status_code == 200 and read.json()["status"] == status, read.text

    # Closed, nobody waiting: nothing to send home, and nothing changes.
    again = await api.post(f"/v1/queues/{queue_id}/close", "staff", json=send_home)
    assert again.status_code == 409 and again.json()["type"] == "/problems/invalid-transition"


async def test_a_person_who_leaves_is_thanked_and_one_cancelled_by_staff_is_told_so(
    api: ApiClient, provider: ProviderReceiver, pipeline: None
) -> None:
    """The same rule in the words of who ended the place: the person's own cancel (the ticket's
    token) is a confirmation, a staff cancel says what to do if it was a mistake. Both right
    after the tickets were taken (the next test has the read side never see them)."""
    queue_id = await api.create_queue(name="Passports", counters=["1"])
    # The queue's name comes from its view (the read side's): a queue made a moment ago has none.
    seen = await api.http.get(
        f"/v1/queues/{queue_id}", params={"min_version": 1, "wait": 20}, headers=api.auth()
    )
    assert seen.status_code == 200, seen.text
    leaves, removed = [
        (await api.enqueue(queue_id, notify=[{"channel": "sms", "address": to, "when": UNASKED}]))[
            "ticket"
        ]
        for to in ("+447700900125", "+447700900126")
    ]
    mine = {"X-Ticket-Token": leaves["token"]}
    left = await api.http.post(f"/v1/tickets/{leaves['ticket_id']}/cancel", headers=mine)
    assert left.status_code == 200, left.text
    ended = await api.post(f"/v1/tickets/{removed['ticket_id']}/cancel", "staff", json={})
    assert ended.status_code == 200, ended.text
    # The answers say who (the ticket page shows its own cancel's words from it at once).
    assert left.json()["ticket"]["cancelled_by"] == "customer"
    assert ended.json()["ticket"]["cancelled_by"] == "staff"

    told = {m.to: m.body for m in await provider.wait_for(2, STARTUP_S)}
    assert told == {
        "+447700900125": f"{leaves['number']}: you have left the line at Passports. Thank you for"
        " letting us know.",
        "+447700900126": f"{removed['number']}: your place in line at Passports is cancelled. If"
        " this is a mistake, please take a new ticket.",
    }


async def test_before_the_read_side_has_them_each_message_names_the_persons_number(
    settings: Settings, topics: list[str], api: ApiClient, provider: ProviderReceiver
) -> None:
    """The relay and the notifier, no stream worker: the read side never has these tickets, so
    the notifier learns of them from the events topic alone (a cancel right after the ticket
    was taken, then a pause). Each message still starts with the person's number, which the
    subscription kept when it was made, not ": ..." (the read side's was all it had)."""
    await delivery_topics(settings)
    relay = Process(settings, "relay")
    try:
        with notifier(settings):
            queue_id = await api.create_queue(name="Passports", counters=["1"])
            paused, removed = [
                (await api.enqueue(queue_id, notify=[{"channel": "sms", "address": to}]))["ticket"]
                for to in ("+447700900127", "+447700900128")
            ]
            ended = await api.post(f"/v1/tickets/{removed['ticket_id']}/cancel", "staff", json={})
            assert ended.status_code == 200, ended.text
            pause = await api.post(f"/v1/queues/{queue_id}/pause", "staff", json={})
            assert pause.status_code == 200, pause.text
            told = await provider.wait_for(4, STARTUP_S)  # two confirmations, then these two
            await quiet_for()
    finally:
        stop_all([relay])
    by_phone = {m.to: m.body for m in provider.messages if "Reply STOP" not in m.body}
    assert len(told) == 4 == len(provider.messages), [m.body for m in provider.messages]
    assert by_phone["+447700900128"].startswith(f"{removed['number']}: your place in line")
    assert by_phone["+447700900127"].startswith(f"{paused['number']}: "), by_phone
    assert "paused" in by_phone["+447700900127"], by_phone
