"""Counts and counter names as a person reads them, found wrong by an outside probe:

* a count agrees with its number: one person waiting is "1 wartet" in German (not "1 warten"),
  one more in the line "+ 1 autre en attente" in French (the catalogues' key_one / key_other,
  picked by VQ.plural with the language's plural rules);
* a counter named in words is named as it is: "Room 4", not "Counter Room 4" (nor "Guichet
  Guichet Accueil 12"); one named by a number gets the word for counter, "Guichet 2" in French:
  the rule the messages follow (notifications/default_templates.py counter_label, whose unit
  test cases VQ.counterLabel is checked against here), on the ticket page, the board and the
  display.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from notifications.default_templates import counter_label
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from tests.browser.test_display import TV, open_display, spelled, wait_said
from tests.browser.test_kiosk import card, make_queue, open_kiosk
from tests.browser.test_ticket_page import LIVE_WITHIN_MS, open_ticket
from web.i18n import LANGUAGES, strings

# counter_label's unit test cases (tests/unit/notifications/test_templates.py), and the names
# the probe used.
NAMES = ["2", "B", "12", "A1", "3", "B-12", "Room 4", "Bureau B", "Mostrador", "Guichet Accueil 12"]


async def until_waiting(tenant: Tenant, queue_id: str, count: int) -> None:
    """`count` tickets taken, and the read side has them all."""
    made: dict[str, int] = {}
    for _ in range(count):
        made = await tenant.enqueue(queue_id, role="kiosk")
    await tenant.read_queue(queue_id, made["stream_version"])


async def test_one_person_waiting_agrees_with_one(live_stack: LiveStack, desktop: OpenPage) -> None:
    tenant = await live_stack.tenant("Zählamt")
    queue_id, _ = await make_queue(tenant, name="Meldewesen")
    await until_waiting(tenant, queue_id, 1)

    kiosk = await open_kiosk(desktop, tenant, lang="de")
    await expect(card(kiosk, "Meldewesen").locator(".queue-facts")).to_contain_text("1 wartet")
    assert_no_console_errors(kiosk)

    display = await open_display(desktop, tenant, f"?queues={queue_id}", locale="de")
    await expect(display.locator("section.queue .waiting-count")).to_have_text("1 wartet")
    assert_no_console_errors(display)

    # Seven waiting, six shown: one more, in French ("+ 1 autres en attente" before).
    await until_waiting(tenant, queue_id, 6)
    display = await open_display(desktop, tenant, f"?queues={queue_id}", locale="fr")
    panel = display.locator("section.queue")
    await expect(panel.locator(".waiting-count")).to_have_text("7 en attente")
    await expect(panel.locator(".next-list li")).to_have_count(6)
    await expect(panel.locator(".more")).to_have_text("+ 1 autre en attente")
    assert_no_console_errors(display)


async def test_a_counter_named_in_words_is_named_as_it_is(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage
) -> None:
    tenant = await live_stack.tenant("Named counters")
    queue_id = await tenant.create_queue(name="Permits", counters=["Room 4", "2"])
    mine = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
    taken = await tenant.enqueue(queue_id, role="kiosk", language="fr")
    french = taken["ticket"]
    await tenant.read_queue(queue_id, taken["stream_version"])

    ticket = await open_ticket(phone, mine)
    board = await desktop()
    await board.goto(f"/board/{queue_id}#key={tenant.keys['display']}")
    display = await open_display(desktop, tenant, f"?queues={queue_id}")
    start = display.get_by_role("button", name="Start sound")
    await start.click()
    await wait_said(display, "Sound is on.")
    # Each display has drawn its first view before the call it must announce: that view is
    # where things are, and only a call after it flashes (one that was made before a display
    # opened is shown at its counter, not announced again).
    await expect(display.locator('.counter[data-counter="2"] .counter-label')).to_have_text(
        "Counter 2"
    )

    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "Room 4"}, role="staff")
    await expect(ticket.locator("#turn-counter")).to_have_text("Room 4", timeout=LIVE_WITHIN_MS)
    await expect(ticket.locator("#detail")).to_have_text("Please go to Room 4 now.")
    await expect(ticket.get_by_role("alert")).to_have_text(
        f"It's your turn. Ticket {mine['number']}, please go to Room 4."
    )
    room = board.locator('.counter[data-counter="Room 4"]')
    await expect(room.locator(".number")).to_have_text(mine["number"], timeout=LIVE_WITHIN_MS)
    await expect(room.locator(".label")).to_have_text("Room 4")
    await expect(board.locator('.counter[data-counter="2"] .label')).to_have_text("Counter 2")
    shown = display.locator('.counter[data-counter="Room 4"]')
    await expect(shown.locator(".counter-label")).to_have_text("Room 4")
    await expect(display.locator("#flash-counter")).to_have_text("Room 4")
    await wait_said(display, f"Ticket {spelled(mine['number'])}, please go to Room 4.")

    # A counter named by a number gets the word for counter, in the page's language.
    french_ticket = await open_ticket(phone, french, query="?lang=fr")
    french_display = await open_display(desktop, tenant, f"?queues={queue_id}", locale="fr")
    # (Its first view: under make test's load with four workers, the call came before it, and
    # the display rightly did not announce it.)
    await expect(french_display.locator('.counter[data-counter="2"] .counter-label')).to_have_text(
        "Guichet 2"
    )
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "2"}, role="staff")
    await expect(french_ticket.locator("#turn-counter")).to_have_text(
        "Guichet 2", timeout=LIVE_WITHIN_MS
    )
    await expect(french_display.locator("#flash-counter")).to_have_text(
        "Guichet 2", timeout=LIVE_WITHIN_MS
    )
    await expect(
        french_display.locator('.counter[data-counter="Room 4"] .counter-label')
    ).to_have_text("Room 4")
    for page in (ticket, board, display, french_ticket, french_display):
        assert_no_console_errors(page)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_pages_name_a_counter_as_the_messages_do(
    live_stack: LiveStack, desktop: OpenPage, lang: str
) -> None:
    """VQ.counterLabel and counter_label agree on which names get the word for counter."""
    page: Page = await desktop(**TV)
    await page.goto(f"/display?lang={lang}")
    word = strings(lang, ("display",))["display.counter"]
    got = await page.evaluate(
        "names => names.map(n => VQ.counterLabel(n, 'display.counter'))", NAMES
    )
    bare = [counter_label(name, lang) != name for name in NAMES]
    assert got == [word.format(counter=n) if b else n for n, b in zip(NAMES, bare, strict=True)]
    assert bare == [True] * 6 + [False] * 4, "the cases are counter_label's"
    assert await page.evaluate("() => [VQ.counterLabel(null, 'x'), VQ.counterLabel(' ', 'x')]") == [
        "",
        "",
    ]
