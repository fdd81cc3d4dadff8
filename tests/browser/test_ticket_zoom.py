"""The ticket page's call at 200 % zoom: "It's your turn, Counter 1" wraps between words only.

A 360 px phone zoomed to 200 % lays the page out in 180 CSS px. The large words of the call
(ticket.css .turn-lead, .turn-counter) must then shrink so that each word fits on its line: a word
split over two lines ("Counte" / "r 1") is hard to read at a glance. Checked in every language the
pages speak, word by word (Range.getClientRects: one box per word that is not split), and still
larger than the page's body text.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack
from tests.browser.test_ticket_page import LIVE_WITHIN_MS, RECORDER
from web.i18n import LANGUAGES

# A 360 x 740 phone at 200 % zoom: half the CSS pixels, twice the device pixels per CSS pixel.
ZOOMED_PHONE: dict[str, Any] = {
    "viewport": {"width": 180, "height": 370},
    "device_scale_factor": 4,
}
BODY_TEXT_PX = 17  # .page-ticket's font size
# Each word of an element's text: how many line boxes it lies on, and whether it stays inside
# the element (a word too wide for any line would stick out of it instead of breaking).
WORDS = """(node) => {
  const text = node.firstChild;
  const box = node.getBoundingClientRect();
  const found = [];
  for (const match of text.data.matchAll(/\\S+/g)) {
    const range = document.createRange();
    range.setStart(text, match.index);
    range.setEnd(text, match.index + match[0].length);
    const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
    found.push({ word: match[0], lines: new Set(rects.map((r) => Math.round(r.top))).size,
      inside: rects.every((r) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5) });
  }
  return { words: found, size: parseFloat(getComputedStyle(node).fontSize) };
}"""


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_call_wraps_between_words_at_200_percent_zoom(
    live_stack: LiveStack, phone: OpenPage, lang: str
) -> None:
    tenant = await live_stack.tenant("Zoom clinic")
    queue_id = await tenant.create_queue(name="Blood tests", counters=["1", "12"])
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "12"}, role="staff")
    page = await phone(locale=lang, **ZOOMED_PHONE)
    await page.add_init_script(RECORDER)  # (a call vibrates: Chromium logs it without a tap)
    await page.goto(f"/t/{mine['ticket_id']}?lang={lang}#token={mine['token']}")
    await expect(page.locator("#turn-counter")).to_contain_text("12", timeout=LIVE_WITHIN_MS)
    for selector in (".turn-lead", "#turn-counter"):
        seen = await page.locator(selector).evaluate(WORDS)
        split = [w["word"] for w in seen["words"] if w["lines"] != 1 or not w["inside"]]
        assert not split, f"{lang} {selector}: split or sticking out at 180 px: {split}"
        assert seen["size"] > BODY_TEXT_PX, f"{lang} {selector}: shrunk to {seen['size']} px"
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 180, f"the page is {width} px wide in a 180 px viewport"
    assert_no_console_errors(page)
