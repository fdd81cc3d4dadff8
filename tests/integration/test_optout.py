"""People stop messages from the message itself: an email's one-click opt-out link (RFC 8058),
a reply STOP to a text (Twilio's signed inbound webhook), and the provider's own "this number
opted out" (Twilio's error 21610). Through the real pipeline where a message is to be sent or not:
the notifier, the local SMTP server and SMS provider (tests/receivers/)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from core.settings import Settings
from notifications.twilio_signature import signature
from tests.integration.conftest import PROVIDER_TOKEN, ApiClient
from tests.integration.reach import pipeline_running, quiet_for, receiving
from tests.receivers.provider import ProviderReceiver
from tests.receivers.smtp import SmtpReceiver

STARTUP_S = 40.0
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}
INBOUND = "/v1/sms/inbound"
# The rules' messages only, not "you're in line" first (test_notifications_confirm.py).
UNASKED = {"subscribed": False}


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver, provider: ProviderReceiver) -> Settings:
    return receiving(settings, smtp, provider)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    async with pipeline_running(settings):
        yield


async def _live(api: ApiClient, ticket_id: str, key: str | None = None) -> list[str]:
    """The ticket's live subscriptions (their ids), as its tenant's key lists them."""
    headers = {"Authorization": f"Bearer {key}"} if key else api.auth()
    listed = await api.http.get(f"/v1/tickets/{ticket_id}/subscriptions", headers=headers)
    assert listed.status_code == 200, listed.text
    return [s["subscription_id"] for s in listed.json()["subscriptions"]]


def _mail_to(smtp: SmtpReceiver, address: str) -> list[Any]:
    return [m for m in smtp.messages if m.rcpt_tos == (address,)]


async def test_the_email_one_click_link_stops_the_next_message(
    api: ApiClient, smtp: SmtpReceiver, pipeline: None
) -> None:
    queue_id = await api.create_queue(name="Passports")
    await api.enqueue(queue_id)
    when = {"ahead": 3, "eta_minutes": None, "called": True, **UNASKED}
    mine = await api.enqueue(
        queue_id,
        notify=[
            {"channel": "email", "address": "ada@example.com", "when": when},
            {"channel": "email", "address": "bob@example.com", "when": when},
        ],
    )
    ticket_id, number = mine["ticket"]["ticket_id"], mine["ticket"]["number"]
    await smtp.wait_for(2, STARTUP_S)  # "1 person ahead", at once: a short line
    [ada] = _mail_to(smtp, "ada@example.com")
    link = ada.message["List-Unsubscribe"]
    assert link.startswith("<http") and link.endswith(">"), link
    assert ada.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = link[1:-1]
    assert ada.message.get_content().rstrip("\n").endswith(f"Stop these messages: {url}")
    path = urlsplit(url).path
    assert len(await _live(api, ticket_id)) == 2

    # A mail scanner fetches the link: it is shown, nothing is stopped.
    shown = await api.http.get(path)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert f"ticket {number} at Passports" in shown.text and 'method="post"' in shown.text
    assert len(await _live(api, ticket_id)) == 2
    # The mailbox provider's one-click POST (no cookies, no key), then once more.
    for _ in range(2):
        stopped = await api.http.post(
            path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
        )
        assert stopped.status_code == 200, stopped.text
        assert f"no more messages about ticket {number} at Passports" in stopped.text
    assert len(await _live(api, ticket_id)) == 1

    # "It's your turn": Bob is told, Ada is not.
    for counter in ("1", "2"):
        called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": counter})
        assert called.status_code == 200, called.text
    assert called.json()["ticket"]["ticket_id"] == ticket_id
    await smtp.wait_for(3, STARTUP_S)
    await quiet_for()
    assert len(_mail_to(smtp, "bob@example.com")) == 2
    assert len(_mail_to(smtp, "ada@example.com")) == 1


@pytest.mark.parametrize(
    "token",
    ["A" * 43, "not-a-token", "x" * 128],
)
async def test_a_forged_link_is_a_404_that_tells_nothing(api: ApiClient, token: str) -> None:
    for method in ("GET", "POST"):
        answer = await api.http.request(method, f"/v1/unsubscribe/{token}")
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"] == "this opt-out link is unknown"


async def test_an_altered_link_stops_nothing(
    api: ApiClient, smtp: SmtpReceiver, pipeline: None
) -> None:
    queue_id = await api.create_queue()
    await api.enqueue(queue_id)
    when = {"ahead": 3, "eta_minutes": None, **UNASKED}
    mine = await api.enqueue(
        queue_id, notify=[{"channel": "email", "address": "cy@example.com", "when": when}]
    )
    [mail] = await smtp.wait_for(1, STARTUP_S)
    path = urlsplit(mail.message["List-Unsubscribe"][1:-1]).path
    token = path.rsplit("/", 1)[1]
    altered = path[: -len(token)] + token[:10] + ("B" if token[10] != "B" else "C") + token[11:]
    answer = await api.http.post(altered, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert answer.status_code == 404 and "cy@" not in answer.text
    assert len(await _live(api, mine["ticket"]["ticket_id"])) == 1


def _signed(settings: Settings, form: dict[str, str], token: str = PROVIDER_TOKEN) -> Any:
    """The request Twilio would make with `form`: its body and its headers, signed over the
    public URL."""
    url = settings.public_url.rstrip("/") + INBOUND
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(token, url, form.items()),
    }
    return urlencode(form).encode(), headers


def _reply(number: str, body: str) -> dict[str, str]:
    return {
        "From": number,
        "To": "+15005550006",
        "Body": body,
        "MessageSid": "SM" + "0" * 32,
        "AccountSid": "AC" + "1" * 32,
        "NumMedia": "",
    }


async def _subscribed(api: ApiClient, number: str, key: str | None = None) -> str:
    """A ticket in a new queue of the key's tenant (the admin's by default), with an SMS
    subscription to `number`."""
    http: httpx.AsyncClient = api.http
    headers = {"Authorization": f"Bearer {key}"} if key else api.auth()
    made = await http.post("/v1/queues", json={"name": "Desk", "counters": ["1"]}, headers=headers)
    assert made.status_code == 201, made.text
    queue_id = made.json()["queue_id"]
    notify = [{"channel": "sms", "address": number, "when": {"ahead": None}}]
    taken = await http.post(
        f"/v1/queues/{queue_id}/tickets", json={"notify": notify}, headers=headers
    )
    assert taken.status_code == 201, taken.text
    return str(taken.json()["ticket"]["ticket_id"])


async def test_a_reply_stop_ends_the_number_in_every_organisation_and_only_when_signed(
    api: ApiClient, settings: Settings
) -> None:
    number, neighbour = "+447700900777", "+447700900778"
    here = await _subscribed(api, number)
    there = await _subscribed(api, number, api.other_tenant_key)
    kept = await _subscribed(api, neighbour)

    async def live() -> list[int]:
        return [
            len(await _live(api, here)),
            len(await _live(api, there, api.other_tenant_key)),
            len(await _live(api, kept)),
        ]

    body, headers = _signed(settings, _reply(number, "STOP"), token="not-the-auth-token")
    for wrong in (
        headers,
        {**headers, "X-Twilio-Signature": ""},
        {"Content-Type": headers["Content-Type"]},
        {**_signed(settings, _reply(neighbour, "STOP"))[1]},  # signed for another body
    ):
        refused = await api.http.post(INBOUND, content=body, headers=wrong)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/signature-mismatch"
    assert await live() == [1, 1, 1]

    body, headers = _signed(settings, _reply(number, "  stop "))
    answered = await api.http.post(INBOUND, content=body, headers=headers)
    assert answered.status_code == 200, answered.text
    assert answered.headers["content-type"].startswith("text/xml")
    assert answered.text.endswith("<Response/>")
    assert await live() == [0, 0, 1]
    # START is heard and does nothing (subscribing again is done on the ticket's page).
    body, headers = _signed(settings, _reply(number, "START"))
    assert (await api.http.post(INBOUND, content=body, headers=headers)).status_code == 200
    assert await live() == [0, 0, 1]


async def test_a_number_the_provider_says_opted_out_is_stopped_and_not_tried_again(
    api: ApiClient, provider: ProviderReceiver, pipeline: None
) -> None:
    number = "+447700900779"
    queue_id = await api.create_queue()
    when = {"ahead": None, "eta_minutes": None, "called": True, **UNASKED}
    notify = [{"channel": "sms", "address": number, "when": when}]
    tickets = [(await api.enqueue(queue_id, notify=notify))["ticket"]["ticket_id"] for _ in "ab"]
    # The number replied STOP to Twilio, not to us: Twilio refuses to text it (21610).
    provider.fail_next(1, 400, code=21610, message="Attempt to send to unsubscribed recipient")
    called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": "1"})
    assert called.status_code == 200, called.text
    for _ in range(int(STARTUP_S * 5)):  # until the delivery worker has stopped the number
        if not [t for t in tickets if await _live(api, t)]:
            break
        await asyncio.sleep(0.2)
    [refused] = provider.requests
    assert refused.status == 400 and refused.form["To"] == number
    assert [await _live(api, t) for t in tickets] == [[], []]
    # The other ticket's turn: nothing is sent to the number.
    called = await api.post(f"/v1/queues/{queue_id}/call-next", json={"counter": "2"})
    assert called.status_code == 200 and called.json()["ticket"]["ticket_id"] == tickets[1]
    await quiet_for(3.0)  # the retry schedule is 0.5, 1, 1.5 s: a retry would have come
    assert len(provider.requests) == 1, [r.form for r in provider.requests]
