"""The customer's ticket page (/t/{id}#token=...) in a real browser against the live stack: it
follows a ticket taken over the API as the line moves, shows the call within 2 s, cancels, opts in
to notifications, survives going offline (and a reload while offline), speaks Spanish, and meets
WCAG AA as axe-core checks it, at phone and desktop size.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from playwright.async_api import Page, Route, expect

from core.tokens import ticket_token
from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant

LIVE_WITHIN_MS = 2_000
# Chromium warns (as an error) when the page's sound is blocked before a gesture, and an offline
# page's requests fail: neither is the page's fault.
OFFLINE = r"ERR_INTERNET_DISCONNECTED|Failed to fetch|net::ERR_"

# Chromium without a profile ("incognito") has no push service, and says so as an error.
NO_PUSH_SERVICE = r"does not support the Push API in incognito mode"

# Records what the page rings and says: the tones the chime starts, vibrations, the words given
# to screen readers (VQ.announce writes them into a live region).
RECORDER = """
window.__tones = 0;
window.__vibrations = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function () { window.__tones += 1; return start.apply(this, arguments); };
Object.defineProperty(Navigator.prototype, "vibrate", {
  configurable: true, value: function () { window.__vibrations += 1; return true; }});
"""


async def open_ticket(
    open_page: OpenPage, ticket: dict[str, Any], locale: str = "en", query: str = ""
) -> Page:
    page = await open_page(locale=locale)
    await page.add_init_script(RECORDER)
    await page.goto(f"/t/{ticket['ticket_id']}{query}#token={ticket['token']}")
    return page


async def api_ticket(tenant: Tenant, ticket_id: str) -> dict[str, Any]:
    answer = await tenant.stack.http.get(f"/v1/tickets/{ticket_id}", headers=tenant.auth("viewer"))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def until_status(tenant: Tenant, ticket_id: str, status: str, within_s: float = 10) -> None:
    """The ticket as the API reads it reaches `status` (read models follow the events: a ticket
    just taken may not be in them yet, a 404 until the worker folds it)."""
    deadline = time.monotonic() + within_s
    seen = None
    while seen != status:
        assert time.monotonic() < deadline, f"still {seen!r}, not {status!r}"
        answer = await tenant.stack.http.get(
            f"/v1/tickets/{ticket_id}", headers=tenant.auth("viewer")
        )
        assert answer.status_code in (200, 404), answer.text
        seen = answer.json()["status"] if answer.status_code == 200 else None
        if seen != status:
            await asyncio.sleep(0.05)


async def subscriptions(tenant: Tenant, ticket_id: str) -> list[dict[str, Any]]:
    answer = await tenant.stack.http.get(
        f"/v1/tickets/{ticket_id}/subscriptions", headers=tenant.auth("admin")
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["subscriptions"])


async def test_a_phone_follows_its_ticket_until_it_is_called_and_served(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Ticket clinic")
    queue_id = await tenant.create_queue(name="Blood tests", counters=["1", "2"])
    await tenant.enqueue(queue_id, role="kiosk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]

    page = await open_ticket(phone, mine)
    await expect(page.locator("#number")).to_have_text(mine["number"])
    await expect(page.locator("#position")).to_have_text("2")
    await expect(page.locator("#ahead")).to_have_text("1")
    await expect(page.locator("#headline")).to_have_text("You are in line.")
    await expect(page.locator("#wait-text")).not_to_be_empty()
    await expect(page.locator("#freshness")).to_have_text("Live: this page updates by itself.")
    await expect(page).to_have_title(re.compile(rf"^{mine['number']}: 1 ahead"))
    await shoot(page, "ticket-waiting-phone")
    await check_a11y(page, "ticket-waiting-phone")
    await page.evaluate("() => { window.sameDocument = true; }")

    # The one ahead is called: this ticket is next.
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
    await expect(page.locator("#position")).to_have_text("1", timeout=LIVE_WITHIN_MS)
    await expect(page.locator("#ahead")).to_have_text("0")
    await expect(page.locator("#headline")).to_have_text("You are next!")

    # Turn the sound on (the gesture browsers ask for), then be called at counter 2.
    await page.get_by_role("button", name="Turn on sound").click()
    await expect(page.get_by_role("button", name="Play the sound")).to_be_visible()
    tones_before = await page.evaluate("() => window.__tones")
    started = time.monotonic()
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "2"}, role="staff")
    await expect(page.locator("#turn-counter")).to_have_text("Counter 2", timeout=LIVE_WITHIN_MS)
    print(f"called on the phone {time.monotonic() - started:.2f} s after the POST")
    await expect(page.locator("#turn")).to_contain_text("It's your turn")
    await expect(page.locator("#detail")).to_have_text("Please go to counter 2 now.")
    await expect(page).to_have_title(re.compile(rf"^{mine['number']}: your turn, counter 2"))
    await expect(page.get_by_role("alert")).to_have_text(
        f"It's your turn. Ticket {mine['number']}, please go to counter 2."
    )
    assert await page.evaluate("() => window.__tones") > tones_before, "no chime"
    assert await page.evaluate("() => window.__vibrations") == 1
    await expect(page.locator("#position")).to_be_hidden()
    await shoot(page, "ticket-called-phone")
    await check_a11y(page, "ticket-called-phone")

    # Served: the page says so, and stops following (the stream ended for good).
    await tenant.post(f"/v1/tickets/{mine['ticket_id']}/start", None, role="staff")
    await expect(page.locator("#headline")).to_have_text(
        "You are being served at counter 2.", timeout=LIVE_WITHIN_MS
    )
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/events") else None)
    await tenant.post(f"/v1/tickets/{mine['ticket_id']}/complete", None, role="staff")
    await expect(page.locator("#headline")).to_have_text(
        "Your visit is complete.", timeout=LIVE_WITHIN_MS
    )
    await expect(page.locator("#cancel")).to_be_hidden()
    await asyncio.sleep(2)
    assert streams == [], f"the page followed on after the end: {streams}"
    assert await page.evaluate("() => window.sameDocument === true"), "the page reloaded"
    assert_no_console_errors(page)


async def test_a_missed_call_a_return_and_a_move_to_another_line(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Moving clinic")
    queue_id = await tenant.create_queue(name="Reception", counters=["1"])
    other = await tenant.create_queue(name="Cardiology", counters=["4"])
    await tenant.enqueue(other, role="kiosk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    page = await open_ticket(phone, mine)
    await expect(page.locator("#position")).to_have_text("1")

    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
    await expect(page.locator("#turn-counter")).to_have_text("Counter 1", timeout=LIVE_WITHIN_MS)
    await tenant.post(f"/v1/tickets/{mine['ticket_id']}/no-show", None, role="staff")
    await expect(page.locator("#headline")).to_have_text(
        "You missed your call.", timeout=LIVE_WITHIN_MS
    )
    await expect(page.locator("#detail")).to_contain_text("back in line")
    await expect(page.locator("#turn")).to_be_hidden()
    await expect(page).to_have_title(re.compile(r": call missed"))
    await shoot(page, "ticket-no-show-phone")
    await check_a11y(page, "ticket-no-show-phone")

    await tenant.post(f"/v1/tickets/{mine['ticket_id']}/return", None, role="staff")
    await expect(page.locator("#headline")).to_have_text("You are next!", timeout=LIVE_WITHIN_MS)

    await tenant.post(
        f"/v1/tickets/{mine['ticket_id']}/transfer", {"to_queue_id": other}, role="staff"
    )
    await expect(page.locator("#moved")).to_be_visible(timeout=LIVE_WITHIN_MS)
    await expect(page.locator("#moved")).to_contain_text("You were moved to")
    await expect(page.locator("#position")).to_have_text("2", timeout=LIVE_WITHIN_MS)
    await expect(page.locator("#headline")).to_have_text("You are in line.")
    assert (await api_ticket(tenant, mine["ticket_id"]))["queue_id"] == other
    assert_no_console_errors(page)


async def test_a_pause_is_said_instead_of_a_wait_running_down(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """While staff pause calling nobody is called, and the range would count down to "any
    moment now": the page says calling is paused, live, and the wait again once it resumes."""
    tenant = await live_stack.tenant("Pausing clinic")
    queue_id = await tenant.create_queue(name="Reception", counters=["1"])
    await tenant.enqueue(queue_id, role="kiosk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    page = await open_ticket(phone, mine)
    await expect(page.locator("#position")).to_have_text("2")
    paused = "Calling is paused for a moment"
    await expect(page.locator("#wait-text")).not_to_have_text(paused)

    await tenant.post(f"/v1/queues/{queue_id}/pause", {"reason": "break"}, role="staff")
    await expect(page.locator("#wait-text")).to_have_text(paused, timeout=LIVE_WITHIN_MS)
    await expect(page.locator("#wait-hint")).to_contain_text("Your place in line is kept")
    await expect(page.locator("#position")).to_have_text("2")
    assert (await api_ticket(tenant, mine["ticket_id"]))["queue_status"] == "paused"

    await tenant.post(f"/v1/queues/{queue_id}/resume", None, role="staff")
    await expect(page.locator("#wait-text")).not_to_have_text(paused, timeout=LIVE_WITHIN_MS)
    assert (await api_ticket(tenant, mine["ticket_id"]))["queue_status"] == "open"
    await page.reload()  # read afresh (not folded from the stream): the same
    await expect(page.locator("#position")).to_have_text("2")
    await expect(page.locator("#wait-text")).not_to_have_text(paused)
    # Closed to newcomers: those waiting are still called, so their wait is still shown.
    closed = await tenant.post(f"/v1/queues/{queue_id}/close", None, role="staff")
    await tenant.read_queue(queue_id, closed["stream_version"])
    assert (await api_ticket(tenant, mine["ticket_id"]))["queue_status"] == "closed"
    await expect(page.locator("#wait-text")).not_to_have_text(paused)
    assert_no_console_errors(page)


async def test_cancel_my_place_asks_first(live_stack: LiveStack, phone: OpenPage) -> None:
    tenant = await live_stack.tenant("Cancel clinic")
    queue_id = await tenant.create_queue(name="Pharmacy")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    page = await open_ticket(phone, mine)
    await expect(page.locator("#position")).to_have_text("1")

    ask = page.get_by_role("button", name="Cancel my place", exact=True)
    await ask.click()
    await expect(ask).to_have_attribute("aria-expanded", "true")
    keep = page.get_by_role("button", name="No, keep my place")
    await expect(keep).to_be_focused()
    await keep.click()
    await expect(page.locator("#cancel-confirm")).to_be_hidden()
    assert (await api_ticket(tenant, mine["ticket_id"]))["status"] == "waiting"

    await ask.click()
    await page.get_by_role("button", name="Yes, cancel my place").click()
    await expect(page.locator("#headline")).to_have_text("Your place was cancelled.")
    await expect(page.locator("#detail")).to_have_text(
        "You left the line. Thank you for letting us know."
    )
    await expect(page.locator("#cancel")).to_be_hidden()
    await expect(page.locator("#notify")).to_be_hidden()
    # The page shows the command's own answer; the read side catches up a moment later.
    await until_status(tenant, mine["ticket_id"], "cancelled")
    assert_no_console_errors(page)


async def test_opting_in_by_email_and_text_message_and_opting_out(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y
) -> None:
    tenant = await live_stack.tenant("Notify clinic")
    queue_id = await tenant.create_queue(name="X-ray")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    page = await open_ticket(phone, mine)
    await expect(page.locator("#notify")).to_be_visible()
    # Web push where the browser has it (Chromium does; its push service is not reachable here).
    await expect(page.get_by_role("button", name="Notify me on this device")).to_be_visible()

    email = page.get_by_label("Email address")
    await email.fill("not an address")
    await page.get_by_role("button", name="Email me").click()
    await expect(page.locator("#email-error")).to_have_text(
        "Please enter an email address like name@example.com."
    )
    await expect(email).to_have_attribute("aria-invalid", "true")
    await expect(email).to_be_focused()
    await check_a11y(page, "ticket-notify-error-phone")

    await email.fill("jo.smith@example.com")
    await page.get_by_role("button", name="Email me").click()
    await expect(page.locator("#notify-message")).to_have_text("Done: we will tell you.")
    await expect(page.locator("#email-error")).to_be_hidden()
    await expect(page.locator("#subscriptions li")).to_have_count(1)
    await expect(page.locator("#subscriptions li").first).to_contain_text("Email: j")
    made = await subscriptions(tenant, mine["ticket_id"])
    assert [(s["channel"], s["language"]) for s in made] == [("email", "en")]

    phone_field = page.get_by_label("Mobile number for text messages")
    await phone_field.fill("07700 900")
    await page.get_by_role("button", name="Text me").click()
    await expect(page.locator("#phone-error")).to_be_visible()
    await phone_field.fill("+44 (0)7700 900123")
    await page.get_by_role("button", name="Text me").click()
    await expect(page.locator("#subscriptions li")).to_have_count(2)
    assert sorted(s["channel"] for s in await subscriptions(tenant, mine["ticket_id"])) == [
        "email",
        "sms",
    ]

    await page.get_by_role("button", name=re.compile(r"^Stop: Email")).click()
    await expect(page.locator("#notify-message")).to_contain_text("Removed")
    await expect(page.locator("#subscriptions li")).to_have_count(1)
    left = await subscriptions(tenant, mine["ticket_id"])
    assert [s["channel"] for s in left] == ["sms"]

    # Web push: the page asks for the permission, then the browser's push service for a
    # subscription, which a test machine's Chromium cannot reach: the page says so plainly.
    await page.context.grant_permissions(["notifications"])
    await page.get_by_role("button", name="Notify me on this device").click()
    await expect(page.locator("#notify-message")).to_have_text(
        re.compile(r"^(Done: we will tell you\.|This browser could not turn on notifications\.)")
    )
    print("web push:", await page.locator("#notify-message").text_content())
    assert_no_console_errors(page, NO_PUSH_SERVICE)


async def test_offline_shows_the_banner_and_the_page_catches_up(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    tenant = await live_stack.tenant("Offline clinic")
    queue_id = await tenant.create_queue(name="Front desk", counters=["1", "2"])
    await tenant.enqueue(queue_id, role="kiosk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    page = await open_ticket(phone, mine)
    await expect(page.locator("#position")).to_have_text("2")

    await page.context.set_offline(True)
    banner = page.locator("#vq-banner")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("No connection")
    await expect(page.locator("#freshness")).to_contain_text("No connection: this is what we knew")
    # Meanwhile the line moves.
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
    await asyncio.sleep(1)
    await page.context.set_offline(False)
    await expect(page.locator("#position")).to_have_text("1", timeout=10_000)
    await expect(banner).to_have_text("Connected again.")
    await expect(page.locator("#freshness")).to_have_text("Live: this page updates by itself.")
    assert_no_console_errors(page, OFFLINE)


async def test_a_reload_without_a_connection_shows_the_last_view(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    tenant = await live_stack.tenant("Reload clinic")
    queue_id = await tenant.create_queue(name="Front desk")
    await tenant.enqueue(queue_id, role="kiosk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    page = await open_ticket(phone, mine)
    await expect(page.locator("#position")).to_have_text("2")
    # The service worker keeps the page and its files once it is running.
    kept = """async () => {
      const shells = await (await caches.open("vq-shells-v1")).keys();
      const files = await (await caches.open("vq-static-v1")).keys();
      return shells.length >= 1 && files.length >= 4;
    }"""
    for _ in range(100):
        if await page.evaluate(kept):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the service worker kept nothing")

    await asyncio.sleep(1.5)  # a page fetched from now on has a later Date
    offline_since = time.time()
    await page.context.set_offline(True)
    reloaded = await page.reload()
    assert reloaded is not None and reloaded.from_service_worker
    kept_at = parsedate_to_datetime(await reloaded.header_value("date") or "")
    assert kept_at.timestamp() < offline_since, "the page came from the network, not the cache"
    await expect(page.locator("#number")).to_have_text(mine["number"])
    await expect(page.locator("#position")).to_have_text("2")
    await expect(page.locator("#freshness")).to_contain_text("No connection: this is what we knew")
    await expect(page.locator("#vq-banner")).to_contain_text("No connection")
    await page.context.set_offline(False)
    await expect(page.locator("#freshness")).to_have_text(
        "Live: this page updates by itself.", timeout=10_000
    )
    assert_no_console_errors(page, OFFLINE)


async def test_the_page_speaks_the_tickets_language(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Clínica")
    queue_id = await tenant.create_queue(name="Análisis", counters=["1", "2"])
    mine = (await tenant.enqueue(queue_id, role="kiosk", language="es"))["ticket"]
    # The browser prefers English; the ticket was taken in Spanish: the page switches once.
    page = await open_ticket(phone, mine, locale="en")
    await expect(page).to_have_url(re.compile(r"\?lang=es&lang_auto=1$"))
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.locator("#number-label")).to_have_text("Su número")
    await expect(page.locator("#headline")).to_have_text("¡Es el siguiente!")
    await expect(page.locator("#wait-text")).not_to_be_empty()
    await shoot(page, "ticket-waiting-phone-es")
    await check_a11y(page, "ticket-waiting-phone-es")

    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "2"}, role="staff")
    await expect(page.locator("#turn-counter")).to_have_text("Ventanilla 2", timeout=LIVE_WITHIN_MS)
    await expect(page.locator("#turn")).to_contain_text("Es su turno")

    # The person's own choice wins over the ticket's language.
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("#turn")).to_contain_text("It's your turn")
    await expect(page).to_have_url(re.compile(r"\?lang=en$"))
    assert {c["name"]: c["value"] for c in await page.context.cookies()}["vq_lang"] == "en"
    assert_no_console_errors(page)


async def test_the_ticket_page_on_a_desktop(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Desk clinic")
    queue_id = await tenant.create_queue(name="Passport office")
    for _ in range(3):
        await tenant.enqueue(queue_id, role="kiosk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    # Opened at once: its first stream waits for the ticket (no 404 for the console check).
    page = await open_ticket(desktop, mine)
    await expect(page.locator("#position")).to_have_text("4")
    await expect(page.locator("#ahead")).to_have_text("3")
    await shoot(page, "ticket-waiting-desktop")
    await check_a11y(page, "ticket-waiting-desktop")
    assert_no_console_errors(page)


async def test_a_ticket_not_yet_in_the_read_models_is_looked_for_again_not_called_gone(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """A QR code scanned the moment the ticket is printed, with the stream worker behind: the
    ticket's stream is a 404 until the worker folds it (here every stream asked without a
    min_version, as the API answers them then). A device that never saw the ticket asks the
    stream to wait for it (min_version: the system of record has it) from the first, and shows
    it; it neither asks without nor says it is gone."""
    tenant = await live_stack.tenant("Early scan clinic")
    queue_id = await tenant.create_queue(name="Front desk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    refused: list[str] = []
    waited: list[str] = []
    page = await phone()

    async def not_yet(route: Route) -> None:
        if "min_version=" in route.request.url:
            waited.append(route.request.url)
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.fulfill(
                status=404,
                content_type="application/problem+json",
                body=json.dumps(
                    {"type": "/problems/not-found", "title": "Not found", "status": 404}
                ),
            )

    await page.route(re.compile(r"/v1/tickets/[^/]+/events"), not_yet)
    await page.add_init_script(RECORDER)
    await page.goto(f"/t/{mine['ticket_id']}#token={mine['token']}")
    await expect(page.locator("#position")).to_have_text("1", timeout=15_000)
    assert len(refused) == 0 and len(waited) == 1, (refused, waited)
    await expect(page.get_by_text("can't find this ticket")).to_have_count(0)


async def test_a_ticket_taken_while_the_worker_is_stopped_is_waited_for_then_shown(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """Nothing faked: the stream worker stopped (SIGSTOP) for 12 s, a ticket taken and its page
    opened at once. The page waits for it (the system of record has it) instead of saying it is
    gone, and shows it once the worker runs again. (The page of the last stop looked 8 times a
    second apart and then said "can't find this ticket", for good.)"""
    tenant = await live_stack.tenant("Stopped worker clinic")
    queue_id = await tenant.create_queue(name="Front desk")
    (worker,) = [s for s in live_stack.services if s.name == "worker"]
    page = await phone()
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
        await page.goto(f"/t/{mine['ticket_id']}#token={mine['token']}")
        await page.wait_for_timeout(12_000)
        await expect(page.locator("#broken")).to_be_hidden()
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    await expect(page.locator("#position")).to_have_text("1", timeout=30_000)
    await expect(page.locator("#broken")).to_be_hidden()
    # Its first stream waited for the ticket (min_version): no 404 to log on the way.
    assert_no_console_errors(page)


async def test_a_ticket_the_system_of_record_does_not_know_is_said_gone_at_once(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """A link to a ticket that is no more (its token right, its ticket unknown to the system of
    record: erased, or never taken here) on a device that never saw it: after one stream asked
    to wait for the ticket answers 404 (the first the page asks) the page says it is gone,
    without looking again."""
    ticket_id = str(uuid.uuid4())
    token = ticket_token(live_stack.settings.token_secret, ticket_id)
    asked: list[str] = []
    page = await phone()
    page.on(
        "request", lambda r: asked.append(r.url) if f"/v1/tickets/{ticket_id}" in r.url else None
    )
    await page.goto(f"/t/{ticket_id}#token={token}")
    await expect(page.get_by_text("can't find this ticket")).to_be_visible(timeout=15_000)
    streams = [url for url in asked if "/events" in url]
    assert len(streams) == 1 and "min_version=1" in streams[0], asked
    await page.wait_for_timeout(1500)  # what a page still looking would ask meanwhile
    assert len([url for url in asked if "/events" in url]) == 1, asked
    await expect(page.get_by_text("can't find this ticket")).to_be_visible()


async def test_a_link_without_its_token_says_what_to_do(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Link clinic")
    queue_id = await tenant.create_queue(name="Front desk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    message = "Please scan the QR code on your ticket again."

    page = await phone()
    await page.goto(f"/t/{mine['ticket_id']}")
    await expect(page.locator("#broken-title")).to_have_text("This link is not complete")
    await expect(page.locator("#broken-text")).to_have_text(message)
    await expect(page.locator("#card")).to_be_hidden()
    await shoot(page, "ticket-broken-link-phone")
    await check_a11y(page, "ticket-broken-link-phone")

    wrong = await phone()
    await wrong.goto(f"/t/{mine['ticket_id']}#token={mine['token'][:-4]}AAAA")
    await expect(wrong.locator("#broken-text")).to_have_text(message)
    assert "token" not in wrong.url
    assert_no_console_errors(page)
    assert_no_console_errors(wrong, r"401 \(Unauthorized\)")


async def test_a_push_message_shows_the_tickets_notification(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """What the notifier sends ({title, body, url}) is delivered to the page's service worker as
    a push service would (DevTools), and shown as a notification that opens the ticket's page."""
    tenant = await live_stack.tenant("Push clinic")
    queue_id = await tenant.create_queue(name="Front desk")
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    page = await open_ticket(phone, mine)
    await page.context.grant_permissions(["notifications"])
    await expect(page.locator("#position")).to_have_text("1")

    devtools = await page.context.new_cdp_session(page)
    registrations: list[str] = []
    devtools.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda update: registrations.extend(
            r["registrationId"] for r in update["registrations"] if not r["isDeleted"]
        ),
    )
    await devtools.send("ServiceWorker.enable")
    await page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    for _ in range(50):
        if registrations:
            break
        await asyncio.sleep(0.1)
    assert registrations, "no service worker registered"

    link = f"{live_stack.url}/v1/tickets/{mine['ticket_id']}?token={mine['token']}"
    data = {"title": "A-001: your turn", "body": "Please go to counter 2.", "url": link}
    shown = """async () => (await (await navigator.serviceWorker.ready).getNotifications())
      .map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }))"""
    # A push service delivers again what was not taken; DevTools' delivery to a worker still
    # starting under a loaded suite can be lost. One more of the same replaces the first (its
    # tag): the page shows one notification either way.
    notes: list[dict[str, Any]] = []
    for _ in range(3):
        await devtools.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": live_stack.url,
                "registrationId": registrations[-1],
                "data": json.dumps(data),
            },
        )
        for _ in range(80):
            notes = await page.evaluate(shown)
            if notes:
                break
            await asyncio.sleep(0.1)
        if notes:
            break
    assert notes == [
        {
            "title": "A-001: your turn",
            "body": "Please go to counter 2.",
            "tag": f"/t/{mine['ticket_id']}",
            "data": {"page": f"/t/{mine['ticket_id']}"},
        }
    ]
    assert_no_console_errors(page)


async def test_the_service_worker_is_served_for_the_whole_site(live_stack: LiveStack) -> None:
    answer = await live_stack.http.get("/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/"
    assert answer.headers["cache-control"] == "no-cache"
    assert 'addEventListener("push"' in answer.text


# How many lines the ticket number takes, and whether it fits its card's width.
NUMBER_LAYOUT = """() => {
  const node = document.getElementById("number");
  const range = document.createRange();
  range.selectNodeContents(node);
  const lines = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size;
  return {lines: lines, fits: node.scrollWidth <= node.clientWidth, text: node.textContent};
}"""


async def test_the_number_stays_on_one_line_at_200_percent_zoom(
    live_stack: LiveStack, phone: OpenPage, shoot: Shoot
) -> None:
    """A 360 px phone zoomed to 200 % lays the page out 180 px wide: the ticket number shrinks to
    fit, it never breaks ("R-" / "00" / "3"), however long the queue's prefix."""
    tenant = await live_stack.tenant("Zoom clinic")
    for prefix in ("R", "ABCDE"):
        queue_id = await tenant.create_queue(name=f"Desk {prefix}", counters=["1"], prefix=prefix)
        mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
        page = await phone(viewport={"width": 180, "height": 370}, device_scale_factor=4)
        await page.goto(f"/t/{mine['ticket_id']}#token={mine['token']}")
        await expect(page.locator("#number")).to_have_text(mine["number"])
        layout = await page.evaluate(NUMBER_LAYOUT)
        assert layout == {"lines": 1, "fits": True, "text": mine["number"]}, layout
        await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
        await expect(page.locator("#turn-counter")).to_have_text(
            "Counter 1", timeout=LIVE_WITHIN_MS
        )
        layout = await page.evaluate(NUMBER_LAYOUT)
        assert layout == {"lines": 1, "fits": True, "text": mine["number"]}, ("called", layout)
        await shoot(page, f"ticket-zoom-200-{prefix.lower()}")
        assert_no_console_errors(page)


async def test_a_missed_calls_grace_goes_by_the_apis_clock(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """A phone whose clock is an hour ahead (or a demo's API clock behind it): the person is
    told until when they may come back, not that it is too late."""
    tenant = await live_stack.tenant("Grace clinic")
    queue_id = await tenant.create_queue(name="Reception", counters=["1"])
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
    await tenant.post(f"/v1/tickets/{mine['ticket_id']}/no-show", None, role="staff")
    await until_status(tenant, mine["ticket_id"], "no_show")
    page = await phone(timezone_id="UTC")
    await page.clock.install(time=await live_stack.clock() + timedelta(hours=1))
    await page.goto(f"/t/{mine['ticket_id']}#token={mine['token']}")
    await expect(page.locator("#headline")).to_have_text("You missed your call.")
    await expect(page.locator("#detail")).to_contain_text("If you come back to the desk before")
    assert_no_console_errors(page)
