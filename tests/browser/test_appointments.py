"""Appointments in the pages, in Chromium against the live stack.

An administrator turns appointments on for a queue in the admin console's queue form (the PATCH
carries the `appointments` object, GET /v1/queues/{id} then shows it, and the form shows it again
when edited) and creates a queue that takes them. A booking made through the API for a slot whose
check-in window is open is listed in the staff console's "Bookings today" (its time in the queue's
zone); "Check in" on a booking whose window is not open yet shows the API's reason; on the open
one it puts the person in the line (live). A time booked from the panel's form is listed too.
Spanish on a phone. Every view passes axe.

The API's clock is real time here, so the queue's zone is chosen for its local time to be about
noon: "today" then holds the next hours whatever the hour of the run.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Page, Route, expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Person, Tenant

SETTINGS = {
    "slot_minutes": 15,
    "per_slot": 2,
    "lead_minutes": 5,
    "early_minutes": 60,
    "grace_minutes": 10,
    "horizon_days": 30,
}
# The refused check-in (too early) the page shows is logged by Chromium as a failed request.
REFUSED = r"status of 409"


def noon_zone() -> str:
    """A fixed-offset zone where it is now between 12:00 and 12:59 (Etc/GMT-N is UTC+N)."""
    offset = 12 - datetime.now(UTC).hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def local_hhmm(iso: str, zone: str) -> str:
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%H:%M")


async def slots(tenant: Tenant, queue_id: str, hours: int = 3) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    found = await tenant.get(
        f"/v1/queues/{queue_id}/slots",
        "staff",
        **{"from": now.isoformat(), "to": (now + timedelta(hours=hours)).isoformat()},
    )
    assert found["slot_minutes"] == SETTINGS["slot_minutes"]
    return [s for s in found["slots"] if s["free"] > 0]


def opened(slot: dict[str, Any], within: timedelta = timedelta(0)) -> bool:
    """Its check-in window is open (slot_at - early_minutes <= now), or opens `within`."""
    at = datetime.fromisoformat(slot["slot_at"])
    return at - timedelta(minutes=SETTINGS["early_minutes"]) <= datetime.now(UTC) + within


async def book(tenant: Tenant, queue_id: str, slot_at: str, **body: Any) -> dict[str, Any]:
    return await tenant.post(
        f"/v1/queues/{queue_id}/appointments", {"slot_at": slot_at, **body}, "kiosk"
    )


async def sign_in(page: Page, person: Person, where: str) -> None:
    await page.goto(f"/{where}?org={person.tenant_id}")
    await page.fill("#signin-email", person.email)
    await page.fill("#signin-password", person.password)
    await page.click("#signin-submit")
    await expect(page.locator("#signin")).to_be_hidden()


async def pick(page: Page, queue_name: str, counter: str) -> None:
    await expect(page.locator("#staff-setup")).to_be_visible()
    await page.select_option("#staff-queue", label=queue_name)
    await page.select_option("#staff-counter", counter)
    await page.click("#staff-setup-go")
    await expect(page.locator("#staff-console")).to_be_visible()


async def turn_on_in_the_admin_form(
    page: Page, tenant: Tenant, queue_id: str, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    row = page.locator(f'#queues tr[data-queue-id="{queue_id}"]')
    await row.locator('[data-action="edit"]').click()
    form = page.locator("#queues form")
    takes = form.get_by_label("Takes appointments")
    await expect(takes).not_to_be_checked()
    await expect(form.get_by_label("Bookings per slot")).to_be_hidden()
    await takes.check()
    await expect(form.get_by_label("Slot length")).to_have_value("15")  # the defaults
    await expect(form.get_by_label("Bookings per slot")).to_have_value("1")
    await form.get_by_label("Bookings per slot").fill("0")  # refused before sending
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_label("Bookings per slot")).to_have_attribute("aria-invalid", "true")
    await expect(form.locator('[data-field="appointments_per_slot"]')).to_contain_text("1 to 1000")  # fmt: skip
    await form.get_by_label("Bookings per slot").fill("2")
    await form.get_by_label("Lead (minutes)").fill("5")
    await form.get_by_label("Bookable ahead (days)").fill("30")
    await check_a11y(page, "admin-queues-appointments-desktop")
    await page.evaluate("() => window.scrollTo(0, 0)")
    await shoot(page, "admin-queues-appointments-desktop")
    held: list[Route] = []  # the list's wait for the saved version, held to see the old rows

    def waits(url: str) -> bool:
        return "min_version=" in url

    await page.route(waits, lambda route: held.append(route))
    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await form.get_by_role("button", name="Save").click()
    request = await sent.value
    assert json.loads(request.post_data or "{}") == {"appointments": SETTINGS}
    answer = await request.response()
    assert answer is not None and answer.ok
    await expect(page.locator("#queues .section-message")).to_contain_text("saved")
    view = await tenant.read_queue(queue_id, (await answer.json())["stream_version"])
    assert view["appointments"] == SETTINGS
    # Until the list is read again at the saved version, the rows drawn before the save (their
    # Edit would open the old settings) are marked busy and their buttons are off.
    await expect(page.locator("#queues .list")).to_have_attribute("aria-busy", "true")
    await expect(row.locator('[data-action="edit"]')).to_be_disabled()
    for _ in range(200):  # the held read reaches the handler (a message from the browser)
        if held:
            break
        await asyncio.sleep(0.05)
    assert held, "the list's read at the saved version was not made"
    for route in held:
        await route.continue_()
    await page.unroute(waits)
    await expect(page.locator("#queues .list")).to_have_attribute("aria-busy", "false")

    await row.locator('[data-action="edit"]').click()  # shown filled
    await expect(form.get_by_label("Takes appointments")).to_be_checked()
    await expect(form.get_by_label("Bookings per slot")).to_have_value("2")
    await expect(form.get_by_label("Lead (minutes)")).to_have_value("5")
    await form.get_by_role("button", name="Cancel").click()


async def create_with_appointments(page: Page, tenant: Tenant) -> None:
    await page.click("#queues-new")
    form = page.locator("#queues form")
    await form.get_by_label("Name", exact=True).fill("Vaccination")
    await form.get_by_label("Takes appointments").check()
    await form.get_by_label("Slot length").select_option("30")
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/queues")) as sent:  # fmt: skip
        await form.get_by_role("button", name="Create the queue").click()
    body = json.loads((await sent.value).post_data or "{}")
    assert body["appointments"] == {
        "slot_minutes": 30,
        "per_slot": 1,
        "lead_minutes": 10,
        "early_minutes": 60,
        "grace_minutes": 10,
        "horizon_days": 60,
    }
    row = page.locator("#queues tr", has_text="Vaccination")
    await expect(row).to_have_count(1)
    made = await row.get_attribute("data-queue-id")
    assert made
    assert (await tenant.read_queue(made))["appointments"]["slot_minutes"] == 30


async def test_an_admin_turns_appointments_on_and_staff_check_a_booking_in(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    zone = noon_zone()
    tenant = await live_stack.tenant("Booking clinic")
    queue_id = await tenant.create_queue(
        name="Front desk", counters=["1", "2"], timezone=zone, service_types=["Blood test"]
    )
    admin = await tenant.person("admin")
    page = await desktop()
    await sign_in(page, admin, "admin")
    await turn_on_in_the_admin_form(page, tenant, queue_id, check_a11y, shoot)
    await create_with_appointments(page, tenant)
    assert_no_console_errors(page)

    free = await slots(tenant, queue_id)
    # Open for check-in, and not starting within two minutes: booked a moment later, a slot
    # that began meanwhile is refused ("has started already": run 1 of 2026-12-07 at 17:59 UTC,
    # the 13:00 slot of a zone where it was 12:59 when the slots were listed).
    soon = datetime.now(UTC) + timedelta(minutes=2)
    near = next(s for s in free if opened(s) and datetime.fromisoformat(s["slot_at"]) > soon)
    # Still closed when the staff console clicks it, a minute or more from now (a slot whose
    # window opened meanwhile was checked in, when the test ran just before a quarter hour).
    later = next(s for s in free if not opened(s, within=timedelta(minutes=5)))
    first = await book(tenant, queue_id, near["slot_at"], service_type="Blood test",
                       contact={"name": "Ana Ruiz"})  # fmt: skip
    second = await book(tenant, queue_id, later["slot_at"])

    staff = await tenant.person("staff", name="Ben Staff")
    console = await desktop()
    await sign_in(console, staff, "staff")
    await pick(console, "Front desk", "1")
    panel = console.locator("#staff-bookings")
    await expect(panel).to_be_visible()
    await expect(panel.locator("h2")).to_have_text("Bookings today")
    rows = console.locator("#staff-bookings-body tr")
    await expect(rows).to_have_count(2)
    mine = console.locator(f'#staff-bookings-body tr[data-booking="{first["appointment_id"]}"]')
    await expect(mine).to_contain_text(local_hhmm(near["slot_at"], zone))
    await expect(mine).to_contain_text("Blood test")
    await expect(mine).to_contain_text("booked")
    await expect(console.locator("#staff-line-body tr")).to_have_count(0)

    # Too early for the later one: the API's reason is shown.
    early = console.locator(f'#staff-bookings-body tr[data-booking="{second["appointment_id"]}"]')
    await early.get_by_role("button", name="Check in").click()
    message = console.locator("#staff-bookings-message")
    await expect(message).to_contain_text("check-in opens at")
    await expect(early).to_contain_text("booked")

    await mine.get_by_role("button", name="Check in").click()
    await expect(message).to_contain_text("joined the line")
    line = console.locator("#staff-line-body tr")
    await expect(line).to_have_count(1)  # live, through the stream
    await expect(line.first).to_contain_text("Blood test")
    await expect(mine).to_contain_text("checked in")
    await expect(mine.get_by_role("button", name="Check in")).to_have_count(0)
    ticket = await tenant.get(f"/v1/tickets/{first['appointment_id']}", "viewer")
    assert ticket["status"] == "waiting"

    # A time booked from the panel.
    options = console.locator("#staff-book-slot option")
    await expect(options.first).to_be_attached()
    chosen = await options.first.get_attribute("value")
    assert chosen
    await console.fill("#staff-book-name", "Carla Gil")
    await console.fill("#staff-book-phone", "+34 600 000 000")
    await console.click("#staff-book-go")
    await expect(message).to_contain_text(f"Booked for {local_hhmm(chosen, zone)}")
    await expect(rows).to_have_count(3)
    listed = await tenant.get(f"/v1/queues/{queue_id}/appointments", "viewer")
    booked = [datetime.fromisoformat(b["slot_at"]) for b in listed["appointments"]]
    assert booked.count(datetime.fromisoformat(chosen)) == 2  # with Ana's: 2 a slot
    await check_a11y(console, "staff-bookings-desktop")
    await shoot(console, "staff-bookings-desktop")
    assert_no_console_errors(console, REFUSED)


async def test_bookings_in_spanish_on_a_phone(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    zone = noon_zone()
    tenant = await live_stack.tenant("Clínica con citas")
    queue_id = await tenant.create_queue(
        name="Recepción", counters=["1"], timezone=zone, appointments=SETTINGS
    )
    free = await slots(tenant, queue_id)
    await book(tenant, queue_id, free[0]["slot_at"])
    staff = await tenant.person("staff", language="es")
    page = await phone(locale="es")
    await sign_in(page, staff, "staff")  # one queue, one counter: straight to the console
    panel = page.locator("#staff-bookings")
    await expect(panel.locator("h2")).to_have_text("Citas de hoy")
    await expect(page.locator("#staff-bookings-body tr")).to_have_count(1)
    await expect(page.locator("#staff-bookings-body tr")).to_contain_text("reservada")
    await expect(panel.get_by_role("button", name="Registrar llegada")).to_be_visible()
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the console is {width} px wide on a 360 px screen"
    await check_a11y(page, "staff-bookings-phone")
    await shoot(page, "staff-bookings-phone")
    assert_no_console_errors(page)
