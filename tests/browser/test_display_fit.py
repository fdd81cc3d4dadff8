"""The lobby display shows every ticket at a counter whole, however full the screen.

A display's whole purpose is who is called: with 1 to 4 queues of 2 to 4 counters (one with a
long counter name), each called ticket's number must lie inside the screen and inside every
box that clips its content (a panel's `overflow: hidden` once hid the third card at 1280x900
and showed only its top border at 1920x1080), and not be cut to "R-0…" by its own ellipsis. At
the TV and laptop sizes a waiting room has, in several languages; on a phone (a screen turned
on its side is as narrow) the page scrolls down but is never wider than the screen.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.pages import PHONE, OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from tests.browser.test_display import LIVE_WITHIN_MS, open_display

# Each queue's counters; every one is called but the last queue's "4", which stays free.
COUNTERS = [["1", "2", "3"], ["1", "2", "Guichet Accueil 12"], ["1", "2", "3", "4"], ["1", "2"]]
FREE = {(2, "4")}
SCREENS = [(1280, 720, "en"), (1280, 900, "de"), (1920, 1080, "fr")]
# Each ticket at a counter: its number, where it is, and the boxes that cut it off (an ancestor
# whose overflow is not `visible` and that the number sticks out of), or its own ellipsis.
SEEN = """() => Array.from(document.querySelectorAll(".counter:not(.free) .counter-number"),
  (n) => {
    const r = n.getBoundingClientRect();
    const cut = [];
    for (let p = n.parentElement; p; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX === "visible" && s.overflowY === "visible") continue;
      const b = p.getBoundingClientRect();
      if (r.top < b.top - 1 || r.bottom > b.bottom + 1 || r.left < b.left - 1
        || r.right > b.right + 1) cut.push(p.className || p.tagName);
    }
    return { number: n.textContent, top: r.top, bottom: r.bottom, left: r.left,
      right: r.right, height: r.height, cut: cut, ellipsis: n.scrollWidth > n.clientWidth + 1 };
  })"""


async def called_queues(tenant: Tenant) -> list[str]:
    """Four queues, a ticket called to each of their counters but one."""
    queues = []
    for index, counters in enumerate(COUNTERS):
        queue_id = await tenant.create_queue(name=f"Queue {index + 1}", counters=counters)
        for _ in range(len(counters) + 3):
            await tenant.enqueue(queue_id, role="kiosk")
        for counter in counters:
            if (index, counter) not in FREE:
                await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": counter}, "staff")
        queues.append(queue_id)
    return queues


async def shown(page: Page, expected: int) -> list[dict[str, Any]]:
    """The tickets at counters, once all have come in (and the panels have fitted them)."""
    numbers = page.locator(".counter.called .counter-number")
    await expect(numbers).to_have_count(expected, timeout=LIVE_WITHIN_MS * 5)
    await page.wait_for_timeout(300)  # (a resize or a late view refits)
    return list(await page.evaluate(SEEN))


@pytest.mark.parametrize(("width", "height", "lang"), SCREENS)
async def test_every_called_number_is_on_the_screen(
    live_stack: LiveStack, desktop: OpenPage, width: int, height: int, lang: str
) -> None:
    tenant = await live_stack.tenant("Town hall")
    queues = await called_queues(tenant)
    for count in range(1, len(queues) + 1):
        page = await open_display(
            desktop, tenant, f"?lang={lang}&queues={','.join(queues[:count])}",
            size={"viewport": {"width": width, "height": height}},
        )  # fmt: skip
        expected = sum(len(c) for c in COUNTERS[:count]) - len([f for f in FREE if f[0] < count])
        seen = await shown(page, expected)
        assert len(seen) == expected
        where = f"{count} queue(s) at {width}x{height} in {lang}"
        for s in seen:
            assert not s["cut"], f"{where}: {s['number']} cut off by {s['cut']}"
            assert not s["ellipsis"], f"{where}: {s['number']} shortened by an ellipsis"
            assert s["top"] >= 0 and s["bottom"] <= height, f"{where}: {s} off the screen"
            assert s["left"] >= 0 and s["right"] <= width, f"{where}: {s} off the screen"
            assert s["height"] >= 24, f"{where}: {s['number']} too small to read ({s})"
        assert_no_console_errors(page)
        await page.close()


@pytest.mark.parametrize("lang", ["en", "de"])
async def test_a_phone_scrolls_down_but_not_sideways(
    live_stack: LiveStack, phone: OpenPage, lang: str
) -> None:
    tenant = await live_stack.tenant("Town hall")
    queues = await called_queues(tenant)
    query = f"?lang={lang}&queues={','.join(queues[:3])}"
    page = await open_display(phone, tenant, query, locale=lang, size=PHONE)
    seen = await shown(page, sum(len(c) for c in COUNTERS[:3]) - len(FREE))
    for s in seen:
        assert not s["cut"] and not s["ellipsis"], f"{lang}: {s['number']} cut off: {s}"
        assert s["left"] >= 0 and s["right"] <= 360, f"{lang}: {s} off the screen"
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"{lang}: the display is {width} px wide on a 360 px screen"
    assert_no_console_errors(page)
