"""The queue's day from the staff console (staff-queue.js): pause and resume calling, close to
newcomers keeping those waiting, then send them home (whose page then says the queue closed), open
again; or close and send home at once. Each button fits the queue's status as its live view says,
and each act is checked in the API. A counter serving two queues closes, sends home and opens
the desk's queue alone or both."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.audit import CheckA11y
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from tests.browser.test_staff import _numbers, _pick, _sign_in, _ticket

BUTTONS = ("pause", "resume", "open", "close", "send-home")


async def _queue(tenant: Tenant, queue_id: str) -> dict[str, Any]:
    answer = await tenant.stack.http.get(
        f"/v1/queues/{queue_id}", headers=tenant.auth("viewer"), params={"wait": 0}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _until(tenant: Tenant, queue_id: str, status: str, waiting: int) -> dict[str, Any]:
    """The queue's view once the read side has it `status` with `waiting` in line (10 s)."""
    for _ in range(100):
        view = await _queue(tenant, queue_id)
        if (view["status"], view["waiting"]) == (status, waiting):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"never {status} with {waiting} waiting: {view}")


async def _shown(page: Page, *shown: str) -> None:
    """Exactly the buttons `shown` of the queue's day are on the page."""
    for name in BUTTONS:
        button = page.locator(f"#staff-queue-{name}")
        if name in shown:
            await expect(button).to_be_visible()
        else:
            await expect(button).to_be_hidden()


async def test_pause_resume_close_keeping_the_line_then_send_it_home_and_open(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y
) -> None:
    tenant = await live_stack.tenant("Queue day")
    queue_id = await tenant.create_queue(name="Desk", counters=["1", "2"])
    first, second = await _numbers(tenant, queue_id, 2)
    page = await desktop()
    await _sign_in(page, await tenant.person("staff"))
    await _pick(page, "Desk", "1")
    state = page.locator("#staff-queue-state")
    await _shown(page, "pause", "close")
    await expect(state).to_be_hidden()

    await page.click("#staff-queue-pause")
    await _shown(page, "resume", "close")
    await expect(state).to_contain_text("paused")
    await expect(page.locator("#staff-status")).to_contain_text("Desk is paused")
    await _until(tenant, queue_id, "paused", 2)
    await page.click("#staff-queue-resume")
    await _shown(page, "pause", "close")
    await expect(state).to_be_hidden()
    await _until(tenant, queue_id, "open", 2)

    # Close, keeping the two in line: they can still be called.
    await page.click("#staff-queue-close")
    dialog = page.locator("#staff-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#staff-dialog-title")).to_have_text("Close Desk for the day")
    await expect(page.locator('label[for="staff-field-waiting"]')).to_have_text(
        "The 2 people waiting"
    )
    await expect(page.locator("#staff-field-waiting")).to_have_value("keep")
    await page.fill("#staff-field-reason", "the doctor left early")
    await check_a11y(page, "staff-close-dialog")
    await page.click("#staff-dialog-ok")
    await expect(dialog).to_be_hidden()
    await expect(state).to_contain_text("closed")
    await _shown(page, "open", "send-home")
    await _until(tenant, queue_id, "closed", 2)
    assert (await _ticket(tenant, first["ticket_id"]))["status"] == "waiting"

    # The first in line follows on their phone.
    phone = await desktop()
    await phone.goto(f"/t/{first['ticket_id']}#token={first['token']}")
    await expect(phone.locator("#headline")).to_have_text("You are next!")

    # Then send them home: asked first, and cancelling the dialog changes nothing.
    await page.click("#staff-queue-send-home")
    await expect(page.locator("#staff-dialog-intro")).to_contain_text("The 2 people still waiting")
    await page.click("#staff-dialog-cancel")
    await expect(dialog).to_be_hidden()
    assert (await _queue(tenant, queue_id))["waiting"] == 2
    await page.click("#staff-queue-send-home")
    await page.click("#staff-dialog-ok")
    await expect(page.locator("#staff-line-empty")).to_be_visible()
    await expect(page.locator("#staff-status")).to_contain_text(
        "Desk is closed; 2 people waiting were sent home"
    )
    await _shown(page, "open")
    await _until(tenant, queue_id, "closed", 0)
    for ticket in (first, second):
        assert (await _ticket(tenant, ticket["ticket_id"]))["status"] == "cancelled"
    # Their page says the queue closed, live: not "if this is a mistake, take a new ticket".
    await expect(phone.locator("#headline")).to_have_text("Your place was cancelled.")
    await expect(phone.locator("#detail")).to_have_text(
        "This queue has closed and can no longer serve you. We are sorry."
    )
    assert (await _ticket(tenant, first["ticket_id"]))["cancelled_by"] == "closing"
    assert_no_console_errors(phone)

    await page.click("#staff-queue-open")
    await _shown(page, "pause", "close")
    await _until(tenant, queue_id, "open", 0)
    assert_no_console_errors(page)


async def test_close_and_send_home_at_once_leaves_the_called_at_their_counter(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Queue day, at once")
    queue_id = await tenant.create_queue(name="Lab", counters=["1"])
    called, waiting = await _numbers(tenant, queue_id, 2)
    page = await desktop()
    await _sign_in(page, await tenant.person("staff"))
    await _pick(page, "Lab", "1")
    await page.click("#staff-call-next")
    await expect(page.locator("#staff-current-number")).to_have_text(called["number"])

    await page.click("#staff-queue-close")
    await expect(page.locator('label[for="staff-field-waiting"]')).to_have_text(
        "The 1 person waiting"
    )
    await page.select_option("#staff-field-waiting", "home")
    await page.click("#staff-dialog-ok")
    await expect(page.locator("#staff-status")).to_contain_text(
        "Lab is closed; 1 person waiting was sent home"
    )
    await _shown(page, "open")
    view = await _until(tenant, queue_id, "closed", 0)
    assert view["status"] == "closed"
    assert (await _ticket(tenant, waiting["ticket_id"]))["status"] == "cancelled"
    # The one at the counter is still there, and can be served.
    assert (await _ticket(tenant, called["ticket_id"]))["status"] == "called"
    await expect(page.locator("#staff-current-number")).to_have_text(called["number"])
    await page.click("#staff-complete")
    await expect(page.locator("#staff-current .staff-free")).to_be_visible()
    assert_no_console_errors(page)


async def test_a_counter_serving_two_queues_closes_sends_home_and_opens_one_or_both(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y
) -> None:
    tenant = await live_stack.tenant("Queue day, two queues")
    deposits = await tenant.create_queue(name="Deposits", prefix="D", counters=["1"])
    loans = await tenant.create_queue(name="Loans", prefix="L", counters=["1"])
    await _numbers(tenant, deposits, 2)
    (loan,) = await _numbers(tenant, loans, 1)
    page = await desktop()
    await _sign_in(page, await tenant.person("staff"))
    await page.select_option("#staff-queue", label="Deposits")
    await page.select_option("#staff-counter", "1")
    await page.get_by_label("Loans").check()
    await page.click("#staff-setup-go")
    summary = page.locator("#staff-multi-queues li")
    await expect(summary.filter(has_text="Loans")).to_contain_text("1 waiting")
    await expect(summary.filter(has_text="Deposits")).to_contain_text("2 waiting")

    # Close both, keeping those waiting: the dialog asks which, with who waits where.
    await page.click("#staff-queue-close")
    await expect(page.locator("#staff-dialog-title")).to_have_text("Close queues for the day")
    await expect(page.locator("#staff-field-which option")).to_have_text(
        ["Only Deposits (2 waiting)", "All 2 at this counter: Deposits and Loans (3 waiting)"]
    )
    await expect(page.locator("#staff-field-which")).to_have_value("one")
    await expect(page.locator('label[for="staff-field-waiting"]')).to_have_text(
        "The people waiting"
    )
    await check_a11y(page, "staff-close-dialog-two-queues")
    await page.select_option("#staff-field-which", "all")
    await page.click("#staff-dialog-ok")
    await expect(page.locator("#staff-status")).to_contain_text(
        "Deposits and Loans are closed to newcomers"
    )
    await _until(tenant, deposits, "closed", 2)
    await _until(tenant, loans, "closed", 1)
    await expect(summary.filter(has_text="Loans")).to_contain_text("closed")

    # Send home from the desk's queue only: Loans keeps its person.
    await page.click("#staff-queue-send-home")
    await expect(page.locator("#staff-dialog-title")).to_have_text("Send the people waiting home")
    await page.click("#staff-dialog-ok")  # "Only Deposits" stands first
    await expect(page.locator("#staff-status")).to_contain_text(
        "Deposits is closed; 2 people waiting were sent home"
    )
    await _until(tenant, deposits, "closed", 0)
    assert (await _queue(tenant, loans))["waiting"] == 1
    assert (await _ticket(tenant, loan["ticket_id"]))["status"] == "waiting"

    # Open both again.
    await page.click("#staff-queue-open")
    await expect(page.locator("#staff-dialog-title")).to_have_text("Open queues")
    await expect(page.locator("#staff-field-which option")).to_have_text(
        ["Only Deposits", "All 2 closed at this counter: Deposits and Loans"]
    )
    await page.select_option("#staff-field-which", "all")
    await page.click("#staff-dialog-ok")
    await expect(page.locator("#staff-status")).to_contain_text("Deposits and Loans are open.")
    await _until(tenant, deposits, "open", 0)
    await _until(tenant, loans, "open", 1)
    await _shown(page, "pause", "close")
    assert_no_console_errors(page)
