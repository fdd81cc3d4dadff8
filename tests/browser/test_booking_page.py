"""A booking on the person's own page (/t/{booking id}#token=...), in Chromium against the live
stack.

Before its check-in a booking has no ticket (its stream is a 404): the page shows "Your booking"
(the slot's time in the browser's zone, the service, the status); "I'm here: check in" turns it
into the live ticket of the same id (a place in line); too early, it says when check-in opens,
in the page's own words only (the API's English detail stays out); "Cancel my booking" asks
first. The staff console's Book form shows the person's link, with a Copy button, and the link
opens the booking. Spanish on a phone too; a booking made in French opens in French in an
English browser, as a ticket's page does. Every view passes axe.

The API's clock is real time, so the queue's zone is chosen for its local time to be about noon
(test_appointments.noon_zone), and the browser runs in that zone, so the page's times are the
queue's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from tests.browser.test_appointments import local_hhmm, noon_zone, sign_in
from web.i18n import strings

# Check-in opens two hours before a slot: the next slots are open, those after are not.
EARLY_MINUTES = 120
SETTINGS = {
    "slot_minutes": 15,
    "per_slot": 2,
    "lead_minutes": 5,
    "early_minutes": EARLY_MINUTES,
    "grace_minutes": 10,
    "horizon_days": 30,
}
# Before its check-in a booking's ticket stream is a 404 (the page then reads the booking), and a
# refused check-in a 409: Chromium logs both as failed requests.
EXPECTED = r"status of 40[49]"


async def laboratory(tenant: Tenant, zone: str) -> str:
    return await tenant.create_queue(
        name="Laboratory", counters=["1"], timezone=zone, service_types=["Blood test"],
        appointments=SETTINGS,
    )  # fmt: skip


async def free_slots(tenant: Tenant, queue_id: str, hours: int = 4) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    found = await tenant.get(
        f"/v1/queues/{queue_id}/slots",
        "staff",
        **{"from": now.isoformat(), "to": (now + timedelta(hours=hours)).isoformat()},
    )
    return [s for s in found["slots"] if s["free"] > 0]


def check_in_open(slot: dict[str, Any]) -> bool:
    at = datetime.fromisoformat(slot["slot_at"])
    return at - timedelta(minutes=EARLY_MINUTES) <= datetime.now(UTC) - timedelta(seconds=5)


def check_in_opens_later(slot: dict[str, Any]) -> bool:
    """Its check-in opens a minute from now or later: still closed when the test clicks (`not
    check_in_open` took a slot whose check-in opened seconds later, and a run lost that race)."""
    at = datetime.fromisoformat(slot["slot_at"])
    return at - timedelta(minutes=EARLY_MINUTES) > datetime.now(UTC) + timedelta(minutes=1)


async def book(tenant: Tenant, queue_id: str, slot_at: str, **body: Any) -> dict[str, Any]:
    return await tenant.post(
        f"/v1/queues/{queue_id}/appointments", {"slot_at": slot_at, **body}, "kiosk"
    )


async def booking_status(tenant: Tenant, booking_id: str) -> str:
    found = await tenant.get(f"/v1/appointments/{booking_id}", "viewer")
    return str(found["status"])


async def open_booking(open_page: OpenPage, made: dict[str, Any], zone: str, **kw: Any) -> Page:
    page = await open_page(timezone_id=zone, **kw)
    await page.goto(f"/t/{made['appointment_id']}#token={made['token']}")
    return page


async def test_a_booking_is_shown_and_checking_in_makes_it_the_live_ticket(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    zone = noon_zone()
    tenant = await live_stack.tenant("Booking page clinic")
    queue_id = await laboratory(tenant, zone)
    near = next(s for s in await free_slots(tenant, queue_id) if check_in_open(s))
    made = await book(tenant, queue_id, near["slot_at"], service_type="Blood test")

    page = await open_booking(phone, made, zone)
    booking = page.locator("#booking")
    await expect(booking).to_be_visible()
    await expect(booking.get_by_role("heading", name="Your booking")).to_be_visible()
    await expect(page.locator("#booking-headline")).to_have_text("You have a booking.")
    await expect(page.locator("#booking-when")).to_contain_text(local_hhmm(near["slot_at"], zone))
    await expect(page.locator("#booking-service")).to_have_text("Blood test")
    await expect(page.locator("#booking-status")).to_have_text("Booked")
    await expect(page.locator("#broken")).to_be_hidden()
    await expect(page.locator("#card")).to_be_hidden()
    await expect(page).to_have_title(re.compile(r"^Your booking: Booked"))
    cancel = page.get_by_role("button", name="Cancel my booking", exact=True)
    await expect(cancel).to_be_visible()
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the booking is {width} px wide on a 360 px screen"
    await check_a11y(page, "ticket-booking-phone")
    await shoot(page, "ticket-booking-phone")

    await page.get_by_role("button", name="I'm here: check in").click()
    # The live ticket of the same id, with the same token: a place in line.
    await expect(page.locator("#card")).to_be_visible()
    await expect(page.locator("#position")).to_have_text("1")
    await expect(page.locator("#headline")).to_have_text("You are next!")
    await expect(page.locator("#number")).not_to_be_empty()
    await expect(booking).to_be_hidden()
    await expect(cancel).to_be_hidden()
    await expect(page.get_by_role("button", name="Cancel my place", exact=True)).to_be_visible()
    await expect(page.locator("#freshness")).to_have_text("Live: this page updates by itself.")
    ticket = await tenant.get(f"/v1/tickets/{made['appointment_id']}", "viewer")
    assert ticket["status"] == "waiting"
    assert await booking_status(tenant, made["appointment_id"]) == "checked_in"
    await check_a11y(page, "ticket-booking-checked-in-phone")

    # Opened again later: straight to the ticket.
    again = await open_booking(phone, made, zone)
    await expect(again.locator("#position")).to_have_text("1")
    await expect(again.locator("#booking")).to_be_hidden()
    assert_no_console_errors(page, EXPECTED)
    assert_no_console_errors(again)


async def test_too_early_says_when_and_a_booking_is_cancelled_from_its_page_in_spanish(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    zone = noon_zone()
    tenant = await live_stack.tenant("Clínica de citas")
    queue_id = await laboratory(tenant, zone)
    later = next(s for s in await free_slots(tenant, queue_id) if check_in_opens_later(s))
    made = await book(tenant, queue_id, later["slot_at"])

    page = await open_booking(phone, made, zone, locale="es")
    await expect(page.locator("#booking-title")).to_have_text("Su cita")
    await expect(page.locator("#booking-status")).to_have_text("Reservada")
    await expect(page.locator("#booking-service-fact")).to_be_hidden()  # none was given

    await page.get_by_role("button", name="Ya estoy aquí: registrar llegada").click()
    problem = page.locator("#booking-problem")
    await expect(problem).to_be_visible()
    opens = datetime.fromisoformat(later["slot_at"]) - timedelta(minutes=EARLY_MINUTES)
    await expect(problem).to_contain_text("el registro de llegada se abre")
    await expect(problem).to_contain_text(local_hhmm(opens.isoformat(), zone))
    await expect(problem).not_to_contain_text("check-in")  # the API's English detail: not shown
    await expect(page.locator("#booking-status")).to_have_text("Reservada")
    await check_a11y(page, "ticket-booking-too-early-phone-es")

    ask = page.get_by_role("button", name="Cancelar mi cita", exact=True)
    await ask.click()
    await expect(ask).to_have_attribute("aria-expanded", "true")
    keep = page.get_by_role("button", name="No, mantener mi cita")
    await expect(keep).to_be_focused()
    await keep.click()
    await expect(page.locator("#booking-cancel-confirm")).to_be_hidden()
    assert await booking_status(tenant, made["appointment_id"]) == "booked"

    await ask.click()
    await page.get_by_role("button", name="Sí, cancelar mi cita").click()
    await expect(page.locator("#booking-status")).to_have_text("Cancelada")
    await expect(page.locator("#booking-headline")).to_have_text("Esta cita fue cancelada.")
    await expect(page.locator("#booking-arrive")).to_be_hidden()
    await expect(page.locator("#booking-cancel")).to_be_hidden()
    assert await booking_status(tenant, made["appointment_id"]) == "cancelled"
    await check_a11y(page, "ticket-booking-cancelled-phone-es")
    await shoot(page, "ticket-booking-cancelled-phone-es")
    assert_no_console_errors(page, EXPECTED)


async def test_a_french_booking_opens_in_french_and_too_early_says_so_in_french_only(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    """The booking's language, not the browser's (English here), as a ticket's page does; the
    refused check-in then reads in French only (the API's English detail, with its raw
    timestamp, once showed under the French sentence)."""
    zone = noon_zone()
    tenant = await live_stack.tenant("Laboratoire d'analyses")
    queue_id = await laboratory(tenant, zone)
    later = next(s for s in await free_slots(tenant, queue_id) if check_in_opens_later(s))
    made = await book(tenant, queue_id, later["slot_at"], language="fr")
    fr = strings("fr", ("ticket",))

    page = await open_booking(phone, made, zone, locale="en-US")
    await expect(page).to_have_url(re.compile(r"\?lang=fr&lang_auto=1$"))
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.locator("#booking-title")).to_have_text(fr["ticket.booking_title"])
    headline = page.locator("#booking-headline")
    await expect(headline).to_have_text(fr["ticket.booking_headline_booked"])
    await expect(page.locator("#booking-status")).to_have_text(fr["ticket.booking_booked"])

    await page.get_by_role("button", name=fr["ticket.booking_check_in"]).click()
    problem = page.locator("#booking-problem")
    await expect(problem).to_be_visible()
    opens = datetime.fromisoformat(later["slot_at"]) - timedelta(minutes=EARLY_MINUTES)
    too_early = fr["ticket.booking_opens_at"].split("{time}")[0].removesuffix("à ")
    await expect(problem).to_contain_text(too_early)
    await expect(problem).to_contain_text(local_hhmm(opens.isoformat(), zone))
    await expect(problem).not_to_contain_text(re.compile(r"check-in|opens|minutes|\d{4}-\d\d-"))
    await expect(page.locator("#booking-status")).to_have_text(fr["ticket.booking_booked"])
    await check_a11y(page, "ticket-booking-too-early-phone-fr")
    await shoot(page, "ticket-booking-too-early-phone-fr")
    assert_no_console_errors(page, EXPECTED)


async def test_staff_book_a_time_and_hand_over_the_persons_link(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage, check_a11y: CheckA11y
) -> None:
    zone = noon_zone()
    tenant = await live_stack.tenant("Link clinic")
    await laboratory(tenant, zone)
    staff = await tenant.person("staff")
    console = await desktop(permissions=["clipboard-read", "clipboard-write"])
    await sign_in(console, staff, "staff")  # one queue, one counter: straight to the console
    await expect(console.locator("#staff-bookings")).to_be_visible()
    options = console.locator("#staff-book-slot option")
    await expect(options.first).to_be_attached()
    chosen = await options.first.get_attribute("value")
    assert chosen
    await console.select_option("#staff-book-service", "Blood test")
    async with console.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/appointments")
    ) as sent:
        await console.click("#staff-book-go")
    made = await (await sent.value).json()

    link = console.locator("#staff-book-link")
    await expect(link).to_be_visible()
    url = console.get_by_label("The person's page")
    expected = f"{live_stack.url}/t/{made['appointment_id']}#token={made['token']}"
    await expect(url).to_have_value(expected)
    await console.get_by_role("button", name="Copy", exact=True).click()
    await expect(console.locator("#staff-book-link-copied")).to_have_text("Copied.")
    assert await console.evaluate("() => navigator.clipboard.readText()") == expected
    await check_a11y(console, "staff-book-link-desktop")
    assert_no_console_errors(console)

    page = await phone(timezone_id=zone)
    await page.goto(expected)
    await expect(page.locator("#booking-status")).to_have_text("Booked")
    await expect(page.locator("#booking-when")).to_contain_text(local_hhmm(chosen, zone))
    await expect(page.locator("#booking-service")).to_have_text("Blood test")
    assert_no_console_errors(page, EXPECTED)
