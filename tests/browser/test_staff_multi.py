"""One counter serving several queues in the staff console (/staff): the person ticks the other
queues this counter serves (only those with a counter of that name are offered), "Call next" then
calls the longest wait among them (POST /v1/counters/call-next), the queue the person came from
is shown with the number, start and complete work on that ticket, the choice is remembered per
counter, a call made offline is sent once; axe on the view."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant

# Chromium logs each request made while offline as a console error (as in test_staff.py).
OFFLINE_NOISE = (r"ERR_INTERNET_DISCONNECTED", r"Failed to fetch", r"ERR_NETWORK_CHANGED")


async def _join(tenant: Tenant, queue_id: str) -> dict[str, Any]:
    """A person joins; returns once the read side has them (the ranking reads it), a moment
    later than whoever joined before."""
    made = await tenant.enqueue(queue_id)
    await tenant.read_queue(queue_id, made["stream_version"])
    await asyncio.sleep(0.05)
    return dict(made["ticket"])


async def _ticket(tenant: Tenant, ticket_id: str) -> dict[str, Any]:
    return await tenant.get(f"/v1/tickets/{ticket_id}", role="viewer")


async def test_one_counter_calls_the_longest_wait_among_its_queues(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Bank branch")
    deposits = await tenant.create_queue(name="Deposits", prefix="D", counters=["1", "2"])
    loans = await tenant.create_queue(name="Loans", prefix="L", counters=["1", "2"])
    await tenant.create_queue(name="Safe boxes", prefix="S", counters=["9"])  # no counter 1
    loan1 = await _join(tenant, loans)  # the second queue's first person joined first
    deposit1 = await _join(tenant, deposits)
    deposit2 = await _join(tenant, deposits)
    loan2 = await _join(tenant, loans)
    person = await tenant.person("staff", name="Rita Teller")

    page = await desktop()
    await page.goto(f"/staff?org={tenant.tenant_id}")
    await page.fill("#signin-email", person.email)
    await page.fill("#signin-password", person.password)
    await page.click("#signin-submit")
    await expect(page.locator("#staff-setup")).to_be_visible()
    await page.select_option("#staff-queue", label="Deposits")
    await page.select_option("#staff-counter", "1")
    several = page.get_by_role("group", name="Serve several queues from this counter")
    await expect(several).to_be_visible()
    await expect(several.locator("label")).to_have_text(["Loans"])  # not "Safe boxes"
    await expect(page.locator("#staff-multi-hint")).to_contain_text("same name")
    await check_a11y(page, "staff-multi-setup-desktop")
    await shoot(page, "staff-multi-setup-desktop")
    await several.get_by_label("Loans").check()
    await page.click("#staff-setup-go")
    await expect(page.locator("#staff-console")).to_be_visible()
    await expect(page.locator("#staff-where-queue")).to_have_text("Deposits and Loans")

    summary = page.locator("#staff-multi-queues li")
    await expect(summary).to_have_count(2)
    await expect(summary.filter(has_text="Deposits")).to_contain_text("2 waiting")
    await expect(summary.filter(has_text="Loans")).to_contain_text("2 waiting")
    await expect(summary.filter(has_text="Loans")).to_contain_text(f"next: {loan1['number']}")
    await expect(page.locator("#staff-line-title")).to_contain_text("Waiting in Deposits")
    await expect(page.locator("#staff-line-body tr")).to_have_count(2)

    number, queue = page.locator("#staff-current-number"), page.locator("#staff-current-queue")
    await page.keyboard.press("n")  # the shortcut: the longest wait, in Loans
    await expect(number).to_have_text(loan1["number"])
    await expect(queue).to_have_text("from Loans")
    await expect(page.locator("#staff-status")).to_have_text(
        f"{loan1['number']} from Loans called to counter 1."
    )
    called = await _ticket(tenant, loan1["ticket_id"])
    assert (called["status"], called["counter"]) == ("called", "1")
    await expect(summary.filter(has_text="Loans")).to_contain_text("1 waiting")
    await expect(page.locator("#staff-line-body tr")).to_have_count(2)  # Deposits' line as it was
    mine = page.locator("#staff-counter-list .is-mine")  # whatever the queue
    await expect(mine).to_contain_text(loan1["number"])
    await check_a11y(page, "staff-multi-desktop")
    await shoot(page, "staff-multi-desktop")

    await page.keyboard.press("s")
    await expect(page.locator("#staff-current .staff-badge")).to_have_text("being served")
    await page.click("#staff-complete")
    await expect(page.locator("#staff-current .staff-free")).to_be_visible()
    assert (await _ticket(tenant, loan1["ticket_id"]))["status"] == "served"

    await page.click("#staff-call-next")  # now Deposits' first joined before Loans' second
    await expect(number).to_have_text(deposit1["number"])
    await expect(queue).to_have_text("from Deposits")
    await expect(page.locator("#staff-line-body tr")).to_have_count(1)
    await expect(page.locator("#staff-line-body tr")).to_contain_text(deposit2["number"])
    await page.keyboard.press("c")
    await expect(page.locator("#staff-current .staff-free")).to_be_visible()
    assert (await _ticket(tenant, deposit1["ticket_id"]))["status"] == "served"

    # Offline: the call waits, shown pending, and is sent once when the network is back.
    await page.context.set_offline(True)
    await page.click("#staff-call-next")
    await expect(page.locator("#vq-banner")).to_contain_text("1 action will be sent")
    await expect(page.locator("#staff-call-next")).to_have_attribute("aria-busy", "true")
    await page.wait_for_timeout(1500)  # a retry or two, still offline
    await page.context.set_offline(False)
    await expect(number).to_have_text(deposit2["number"], timeout=15_000)
    await expect(queue).to_have_text("from Deposits")
    assert (await _ticket(tenant, deposit2["ticket_id"]))["status"] == "called"
    assert (await _ticket(tenant, loan2["ticket_id"]))["status"] == "waiting", "called twice"

    # Remembered for this counter: after a reload the counter still serves both.
    await page.reload()
    await expect(page.locator("#staff-where-queue")).to_have_text("Deposits and Loans")
    await expect(summary.filter(has_text="Deposits")).to_contain_text("0 waiting")
    await expect(number).to_have_text(deposit2["number"])
    await page.click("#staff-change")
    await expect(page.get_by_label("Loans")).to_be_checked()
    await page.select_option("#staff-counter", "2")  # nothing chosen for counter 2 yet
    await expect(page.get_by_label("Loans")).not_to_be_checked()
    await page.click("#staff-setup-go")
    await expect(page.locator("#staff-multi-summary")).to_be_hidden()
    await expect(page.locator("#staff-where-queue")).to_have_text("Deposits")
    await expect(page.locator("#staff-line-title")).to_have_text(re.compile(r"^Waiting \(0\)"))
    assert_no_console_errors(page, *OFFLINE_NOISE)
