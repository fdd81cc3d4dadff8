"""Long words on small screens: whole, or broken where a reader expects it, never cut mid-word.

A word split over two lines at a random letter ("Entfern" / "en", "Schätzv" / "erfahre" / "n")
is hard to read at a glance, and a word wider than its box sticks out of it or makes the page
scroll sideways. Checked word by word (Range.getClientRects: one line box per word that is not
split; a soft hyphen, "Benachrichtigungs-" / "vorlagen", is a place a word may break) on:

* the ticket page's list of notifications, with its "Remove" buttons, on a 360 px phone in every
  language the pages speak;
* the dashboard's table of the estimators' accuracy on a phone (words whole; a table too wide
  scrolls inside its own box, not the page), and its "in use" badge inside its pill;
* the German admin console: the side menu's "Benachrichtigungsvorlagen" inside its column at
  1280 px, and the section's heading on a 360 px phone without sideways scrolling.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from tests.browser.test_admin import dashboard_shell
from tests.browser.test_ticket_page import open_ticket
from web.i18n import LANGUAGES

# The words of an element's text that are split over lines or stick out of `box` (the element
# itself unless a selector of an ancestor is given), letter by letter: a word may go on to the
# next line only after a soft hyphen. (A range that starts after a soft hyphen also holds the
# hyphen drawn at the end of the line before: a letter's last box is where it is.)
SPLIT = """(node, box) => {
  const bounds = (box ? node.closest(box) : node).getBoundingClientRect();
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
  const bad = [];
  while (walker.nextNode()) {
    const text = walker.currentNode;
    for (const match of text.data.matchAll(/\\S+/g)) {
      let line = null;
      let split = false;
      let out = false;
      for (let i = match.index; i < match.index + match[0].length; i++) {
        if (text.data[i] === "\\u00ad") { line = null; continue; }
        const range = document.createRange();
        range.setStart(text, i);
        range.setEnd(text, i + 1);
        const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
        if (!rects.length) continue;
        const r = rects[rects.length - 1];
        out = out || r.left < bounds.left - 0.5 || r.right > bounds.right + 0.5;
        split = split || (line !== null && Math.round(r.top) !== line);
        line = Math.round(r.top);
      }
      if (split || out) bad.push(match[0] + (out ? " (sticks out)" : " (split)"));
    }
  }
  return bad;
}"""
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


async def split_words(where: Locator, box: str | None = None) -> list[str]:
    found: list[str] = []
    for index in range(await where.count()):
        found += await where.nth(index).evaluate(SPLIT, box)
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_notifications_list_keeps_its_words_whole_on_a_phone(
    live_stack: LiveStack, phone: OpenPage, lang: str
) -> None:
    tenant = await live_stack.tenant("Notify clinic")
    queue_id = await tenant.create_queue(name="Bürgeramt")
    mine = (await tenant.enqueue(queue_id, role="kiosk", language=lang))["ticket"]
    page = await open_ticket(phone, mine, locale=lang, query=f"?lang={lang}")
    await page.fill("#email", f"person.with.a.long.name-{lang}@example.com")
    await page.click("#email-form button[type=submit]")
    await expect(page.locator("#subscriptions li")).to_have_count(1)
    await page.fill("#phone", "+4915123456789")
    await page.click("#sms-form button[type=submit]")
    await expect(page.locator("#subscriptions li")).to_have_count(2)
    buttons = await split_words(page.locator("#subscriptions button"))
    assert not buttons, f"{lang}: the Remove buttons break their words: {buttons}"
    labels = await split_words(page.locator("#subscriptions li > span"))
    assert all("@" in w or "*" in w for w in labels), f"{lang}: {labels}"  # an address may break
    assert await page.evaluate(PAGE_WIDTH) <= 360
    assert_no_console_errors(page)


async def estimated_and_called(tenant: Tenant) -> str:
    """A queue whose estimators have figures: tickets estimated, two of them called."""
    queue_id = await tenant.create_queue(name="Bürgeramt", counters=["1", "2"])
    for _ in range(5):
        await tenant.enqueue(queue_id, role="kiosk")
    for counter in ("1", "2"):
        await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": counter}, "staff")
    for _ in range(100):
        answer = await tenant.stack.http.get(
            f"/v1/queues/{queue_id}/accuracy", headers=tenant.auth("manager")
        )
        if answer.status_code == 200 and answer.json().get("estimators"):
            return queue_id
        await tenant.stack.clock()  # (a round trip: the worker's turn)
    raise AssertionError(f"no accuracy figures: {answer.status_code} {answer.text}")


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_dashboards_accuracy_table_keeps_its_words_whole_on_a_phone(
    live_stack: LiveStack, phone: OpenPage, lang: str
) -> None:
    tenant = await live_stack.tenant("Dashboard clinic")
    await estimated_and_called(tenant)
    page = await phone(locale=lang)
    await dashboard_shell(page, tenant)
    await page.goto(f"/dashboard?lang={lang}#key={tenant.keys['manager']}")
    table = page.locator("#f-accuracy table")
    await expect(table.locator("tbody tr").first).to_be_visible()
    await page.wait_for_timeout(300)
    cells = await split_words(table.locator("th, td"))
    assert not cells, f"{lang}: the accuracy table breaks its words: {cells}"
    badge = await split_words(table.locator(".tag"))
    assert not badge, f"{lang}: the in-use badge spills out of its pill: {badge}"
    assert await page.evaluate(PAGE_WIDTH) <= 360, f"{lang}: the dashboard scrolls sideways"
    # It fits a 360 px phone in every language, even where the browser cannot hyphenate (this
    # headless Chromium has no dictionary); a longer translation would scroll in its box, which
    # a keyboard reaches.
    box = page.locator("#f-accuracy .table-scroll")
    sizes = await box.evaluate("n => [n.scrollWidth, n.clientWidth]")
    assert sizes[0] <= sizes[1], f"{lang}: the accuracy table is {sizes[0]} px wide in {sizes[1]}"
    assert await box.get_attribute("tabindex") == "0" and await box.get_attribute("aria-label")
    assert_no_console_errors(page)


async def german_admin(live_stack: LiveStack, open_page: OpenPage, **size: Any) -> Page:
    tenant = await live_stack.tenant("Bürgeramt")
    admin = await tenant.person("admin", language="de")
    page = await open_page(locale="de", **size)
    await page.goto(f"/admin?org={admin.tenant_id}&lang=de")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await page.fill("#signin-email", admin.email)
    await page.fill("#signin-password", admin.password)
    await page.click("#signin-submit")
    await expect(page.locator("#admin-who")).to_be_visible()
    return page


async def test_the_german_admin_menu_stays_in_its_column(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    page = await german_admin(live_stack, desktop, viewport={"width": 1280, "height": 900})
    await page.click('#admin-nav a[data-section="templates"]')
    await expect(page.locator("#templates-title")).to_be_focused()
    menu = await split_words(page.locator("#admin-nav a"), "#admin-nav")
    assert not menu, f"the side menu's words leave its column: {menu}"
    heading = await split_words(page.locator("#templates-title"))
    assert not heading, f"the heading breaks where it need not: {heading}"
    assert_no_console_errors(page)


async def test_the_german_admin_does_not_scroll_sideways_on_a_phone(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    page = await german_admin(live_stack, phone)
    await page.click("#admin-menu")
    await page.click('#admin-nav a[data-section="templates"]')
    await expect(page.locator("#templates-title")).to_be_focused()
    heading = await split_words(page.locator("#templates-title"))
    assert not heading, f"the heading sticks out or breaks mid-word: {heading}"
    width = await page.evaluate(PAGE_WIDTH)
    assert width <= 360, f"the German admin is {width} px wide on a 360 px screen"
    assert_no_console_errors(page)
