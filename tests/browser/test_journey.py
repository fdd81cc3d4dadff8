"""Acceptance 1 of the apps issue, end to end in Chromium against the live stack (API, relay,
worker): a person takes a ticket at the kiosk, opens the QR code's link on a phone-sized page,
a member of staff signs in to the console at counter 2 and calls them, and within 2 s the phone
says "counter 2"; a second staff console on the same queue sees the call without a reload.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from playwright.async_api import expect

from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from tests.browser.test_kiosk import card, qr_bytes
from tests.browser.test_staff import _pick, _sign_in
from web.routes_qr import qr_svg, ticket_page_url

LIVE_WITHIN_MS = 2_000


async def _in_line(tenant: Tenant, queue_id: str, number: str) -> dict[str, Any]:
    """The ticket of that number, once the read side has it (it follows the events)."""
    deadline = time.monotonic() + 5
    while True:
        waiting = await tenant.get(f"/v1/queues/{queue_id}/waiting", role="viewer")
        found = [t for t in waiting["tickets"] if t["number"] == number]
        if found:
            return dict(found[0])
        assert time.monotonic() < deadline, f"{number} never showed in the line"
        await asyncio.sleep(0.05)


async def test_kiosk_to_phone_to_staff_and_a_second_console(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage
) -> None:
    tenant = await live_stack.tenant("Journey clinic")
    queue_id = await tenant.create_queue(name="Vaccinations", prefix="V", counters=["1", "2"])

    # The kiosk: pick the queue, take a ticket, read its number and QR code.
    kiosk = await desktop()
    await kiosk.goto(f"/kiosk#key={tenant.keys['kiosk']}")
    await card(kiosk, "Vaccinations").click()
    await expect(kiosk.locator("#screen-details")).to_be_visible()
    await kiosk.locator("#take").click()
    await expect(kiosk.locator("#screen-ticket")).to_be_visible()
    number = (await kiosk.locator("#ticket-number").inner_text()).strip()
    ticket = await _in_line(tenant, queue_id, number)
    link = ticket_page_url(live_stack.settings, ticket["ticket_id"])
    assert await qr_bytes(kiosk) == qr_svg(link), "the QR code is the link the phone opens"

    # The phone opens the QR code's link: the ticket page, first in line.
    person = await phone()
    await person.goto(link)
    await expect(person.locator("#number")).to_have_text(number)
    await expect(person.locator("#position")).to_have_text("1")
    assert "token=" not in person.url, "the token left the address bar once read"

    # Two members of staff sign in: one at counter 2, one at counter 1 of the same queue.
    ana, ben = await tenant.person("staff"), await tenant.person("staff")
    calling, watching = await desktop(), await desktop()
    await _sign_in(calling, ana)
    await _pick(calling, "Vaccinations", "2")
    await _sign_in(watching, ben)
    await _pick(watching, "Vaccinations", "1")
    await expect(watching.locator("#staff-line-body tr")).to_have_count(1)
    await watching.evaluate("() => { window.sameDocument = true; }")
    await person.evaluate("() => { window.sameDocument = true; }")

    started = time.monotonic()
    await calling.click("#staff-call-next")
    await expect(person.locator("#turn-counter")).to_have_text("Counter 2", timeout=LIVE_WITHIN_MS)
    on_phone = time.monotonic() - started
    await expect(person).to_have_title(re.compile(rf"^{number}: your turn, counter 2"))
    at_two = watching.locator("#staff-counter-list li", has_text="Counter 2")
    await expect(at_two).to_contain_text(number, timeout=LIVE_WITHIN_MS)
    await expect(watching.locator("#staff-line-body tr")).to_have_count(0)
    print(f"the call reached the phone in {on_phone:.2f} s and the other console too")

    assert await person.evaluate("() => window.sameDocument === true"), "the phone reloaded"
    assert await watching.evaluate("() => window.sameDocument === true"), "a console reloaded"
    for page in (kiosk, person, calling, watching):
        assert_no_console_errors(page)
