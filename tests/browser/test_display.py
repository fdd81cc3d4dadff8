"""The lobby display (/display#key=...) in a real browser against the live stack: several queues
at once, each call made over the API shown within 2 s without a reload, flashed, listed and
spoken (what the page gives `speechSynthesis.speak` is recorded: headless Chromium has no voices),
at TV and laptop size, in English and Spanish, and meeting WCAG AA as axe-core checks it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant

LIVE_WITHIN_MS = 2_000
TV: dict[str, Any] = {"viewport": {"width": 1920, "height": 1080}}
LAPTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 768}}
# What the page says, and in which language (the utterances are recorded, not spoken).
SPEECH = """
window.__said = [];
window.speechSynthesis.speak = function (said) {
  window.__said.push({ text: said.text, lang: said.lang });
};
"""


def spelled(number: str) -> str:
    return " ".join(c for c in number if c.isalnum())


async def said(page: Page) -> list[dict[str, str]]:
    return list(await page.evaluate("() => window.__said"))


async def wait_said(page: Page, text: str, timeout_s: float = 10.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in await said(page):
            if entry["text"] == text:
                return entry
        await asyncio.sleep(0.1)
    raise AssertionError(f"never said {text!r}; said {await said(page)}")


async def open_display(
    open_page: OpenPage, tenant: Tenant, query: str = "", locale: str = "en", size: Any = None
) -> Page:
    page = await open_page(locale=locale, **(size or TV))
    await page.add_init_script(SPEECH)
    await page.goto(f"/display{query}#key={tenant.keys['display']}")
    return page


async def test_two_queues_each_call_is_shown_and_spoken(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Lobby clinic")
    blood = await tenant.create_queue(name="Blood tests", counters=["1", "2"])
    xray = await tenant.create_queue(name="X-ray", counters=["3"])
    firsts = {}
    for queue_id in (blood, xray):
        firsts[queue_id] = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
        for _ in range(3):
            await tenant.enqueue(queue_id, role="kiosk")
    await tenant.read_queue(xray, (await tenant.enqueue(xray, role="kiosk"))["stream_version"])

    page = await open_display(desktop, tenant, f"?queues={blood},{xray}")
    panels = page.locator("section.queue")
    await expect(panels).to_have_count(2)
    await expect(panels.nth(0).locator(".queue-name")).to_have_text("Blood tests")
    await expect(panels.nth(1).locator(".queue-name")).to_have_text("X-ray")
    await expect(panels.nth(1).locator(".waiting-count")).to_have_text("5 waiting")
    await expect(panels.nth(0).locator(".next-list li").first).to_have_text(firsts[blood]["number"])
    await expect(page.locator("#live")).to_have_text("Live")
    await expect(page.locator("#clock")).not_to_be_empty()
    await page.evaluate("() => { window.sameDocument = true; }")

    start = page.get_by_role("button", name="Start sound")
    await start.click()
    await expect(start).to_be_hidden()
    await wait_said(page, "Sound is on.")

    # A call in the first queue: on its counter, flashed, listed, spoken after a chime.
    number = firsts[blood]["number"]
    started = time.monotonic()
    await tenant.post(f"/v1/queues/{blood}/call-next", {"counter": "2"}, role="staff")
    card = panels.nth(0).locator('.counter[data-counter="2"]')
    await expect(card.locator(".counter-number")).to_have_text(number, timeout=LIVE_WITHIN_MS)
    print(f"the call on the display {time.monotonic() - started:.2f} s after the POST")
    await expect(card).to_have_class("counter called")
    await expect(card.locator(".counter-state")).to_have_text("Please come")
    await expect(page.locator("#flash")).to_be_visible()
    await expect(page.locator("#flash-number")).to_have_text(number)
    await expect(page.locator("#flash-counter")).to_have_text("Counter 2")
    await expect(page.locator("#flash-queue")).to_have_text("Blood tests")
    await shoot(page, "display-call-desktop")
    entry = await wait_said(page, f"Ticket {spelled(number)}, please go to counter 2.")
    assert entry["lang"] == "en"

    # A call in the second queue shows at once on its counter and in the last calls; it is
    # flashed and spoken once the first call's turn on the screen is over.
    other = firsts[xray]["number"]
    await tenant.post(f"/v1/queues/{xray}/call-next", {"counter": "3"}, role="staff")
    xcard = panels.nth(1).locator('.counter[data-counter="3"]')
    await expect(xcard.locator(".counter-number")).to_have_text(other, timeout=LIVE_WITHIN_MS)
    recent = page.locator("#recent li")
    await expect(recent).to_have_count(2)
    await expect(recent.first).to_contain_text(other)
    await expect(recent.first).to_contain_text("X-ray")
    await wait_said(page, f"Ticket {spelled(other)}, please go to counter 3.")
    await expect(page.locator("#flash-queue")).to_have_text("X-ray")
    await expect(page.locator("#flash")).to_be_hidden(timeout=10_000)

    # Being served is no new call: nothing flashes, nothing is said.
    await tenant.post(f"/v1/tickets/{firsts[blood]['ticket_id']}/start", None, role="staff")
    await expect(card.locator(".counter-state")).to_have_text(
        "Being served", timeout=LIVE_WITHIN_MS
    )
    await asyncio.sleep(1)
    await expect(page.locator("#flash")).to_be_hidden()
    assert len(await said(page)) == 3
    await expect(panels.nth(0).locator(".next-list li").first).not_to_have_text(number)
    await shoot(page, "display-desktop")
    await check_a11y(page, "display-desktop")
    assert await page.evaluate("() => window.sameDocument === true"), "the display reloaded"
    assert_no_console_errors(page)


async def test_every_queue_the_key_reads_in_spanish_on_a_laptop(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Clínica del centro")
    names = ["Análisis", "Radiología", "Farmacia"]
    queues = [await tenant.create_queue(name=name, counters=["1", "2"]) for name in names]
    tickets = [(await tenant.enqueue(q, role="kiosk"))["ticket"] for q in queues]

    page = await open_display(desktop, tenant, "?lang=es", size=LAPTOP)
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.locator("section.queue")).to_have_count(3)
    await expect(page.locator("#live")).to_have_text("En directo")
    await expect(page.locator("#recent-none")).to_have_text("Todavía no hay llamadas")

    await tenant.post(f"/v1/queues/{queues[1]}/call-next", {"counter": "2"}, role="staff")
    await expect(page.locator("#flash-counter")).to_have_text(
        "Ventanilla 2", timeout=LIVE_WITHIN_MS
    )
    number = tickets[1]["number"]
    entry = await wait_said(page, f"Turno {spelled(number)}, por favor acuda a ventanilla 2.")
    assert entry["lang"] == "es"
    await expect(page.locator("#flash")).to_be_hidden(timeout=10_000)
    await expect(page.locator("#recent li")).to_have_count(1)
    await shoot(page, "display-laptop-es")
    await check_a11y(page, "display-laptop-es")
    assert_no_console_errors(page)


async def test_a_display_without_a_key_says_what_to_do(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y
) -> None:
    page = await desktop(**TV)
    await page.goto("/display")
    await expect(page.locator("#display-problem")).to_contain_text("This screen has no key yet")
    await check_a11y(page, "display-no-key")

    refused = await desktop(**TV)
    await refused.goto("/display#key=vq_not_a_real_key")
    await expect(refused.locator("#display-problem")).to_contain_text("was refused")
    assert_no_console_errors(page)
    assert_no_console_errors(refused, r"401 \(Unauthorized\)")
