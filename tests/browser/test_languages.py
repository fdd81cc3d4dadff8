"""The pages in French and German, as the messages are: a browser that prefers a regional French
(fr-CA) gets the kiosk in French and its ticket is taken in French; a ticket taken in French
opens its page in French even in an English browser, and so does one whose language is a
regional or upper-case tag (fr-CA, DE); the kiosk's switcher and an Austrian browser (de-AT) give
German.

The French words are asserted as written (web/locales/fr); the German ones are read from
web/locales/de, so the test checks the wiring, not the wording.
"""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack
from tests.browser.test_kiosk import make_queue, open_kiosk, to_details, waiting_at, words
from tests.browser.test_ticket_page import LIVE_WITHIN_MS, open_ticket
from web.i18n import LANG_COOKIE, strings

FITS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


async def assert_fits(page: Page) -> None:
    """Nothing runs off the side of the screen (four language names once did on a phone)."""
    assert await page.evaluate(FITS), "the page is wider than the screen"


async def test_the_kiosk_speaks_french_to_a_french_canadian_browser(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Mairie")
    queue_id, version = await make_queue(tenant, name="État civil", service_types=["Passeport"])
    page = await open_kiosk(phone, tenant, lang="fr-CA")

    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.locator("#start-title")).to_have_text("Prendre un ticket")
    await expect(page.locator(".kiosk-languages a[aria-current]")).to_have_text("Français")
    await assert_fits(page)
    await shoot(page, "kiosk-start-phone-fr")
    await check_a11y(page, "kiosk-start-phone-fr")

    await to_details(page, "État civil", "Passeport")
    await expect(page.locator("#details-title")).to_have_text("C'est presque fini")
    await expect(page.locator("#details-fields")).to_contain_text(
        "Langue des messages\u00a0: Français."
    )
    await page.locator("#take").click()

    await expect(page.locator("#screen-ticket")).to_be_visible()
    ticket = (await waiting_at(tenant, queue_id, version + 1))[-1]
    assert ticket["language"] == "fr", "the ticket's messages are in the kiosk's language"
    await expect(page.locator("#ticket-title")).to_have_text("Votre numéro")
    await expect(page.locator("#ticket-wait")).to_have_text("Plus personne avant vous.")
    await expect(page.locator("#ticket-time")).to_contain_text("Pris le ")
    await shoot(page, "kiosk-ticket-phone-fr")
    await check_a11y(page, "kiosk-ticket-phone-fr")
    assert_no_console_errors(page)


async def test_a_ticket_taken_in_french_opens_its_page_in_french(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Clinique")
    queue_id, _ = await make_queue(tenant, name="Prise de sang")
    mine = (await tenant.enqueue(queue_id, role="kiosk", language="fr"))["ticket"]

    # The browser prefers English; the ticket (and its SMS) is French: the page switches once.
    page = await open_ticket(phone, mine, locale="en")
    await expect(page).to_have_url(re.compile(r"\?lang=fr&lang_auto=1$"))
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.locator("#number-label")).to_have_text("Votre numéro")
    # The ticket's language is not the person's pick: nothing is remembered for the next page.
    assert LANG_COOKIE not in {c["name"] for c in await page.context.cookies()}
    await expect(page.locator("#headline")).to_have_text("Plus personne avant vous\u00a0!")
    await assert_fits(page)
    await shoot(page, "ticket-waiting-phone-fr")
    await check_a11y(page, "ticket-waiting-phone-fr")

    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "2"}, role="staff")
    await expect(page.locator("#turn-counter")).to_have_text("Guichet 2", timeout=LIVE_WITHIN_MS)
    await expect(page.locator("#turn")).to_contain_text("C'est votre tour")
    await shoot(page, "ticket-called-phone-fr")
    await check_a11y(page, "ticket-called-phone-fr")
    assert_no_console_errors(page)


async def test_a_ticket_in_a_regional_or_upper_case_language_opens_in_that_language(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """An API client may send `fr-CA` or `DE` (a BCP 47 tag): the page reads its primary subtag,
    as the pages read the browser's (it once stayed English: the tag matched no page language)."""
    tenant = await live_stack.tenant("Clinique régionale")
    queue_id, _ = await make_queue(tenant, name="Radiologie")
    canadian = (await tenant.enqueue(queue_id, role="kiosk", language="fr-CA"))["ticket"]
    german = (await tenant.enqueue(queue_id, role="kiosk", language="DE"))["ticket"]

    page = await open_ticket(phone, canadian, locale="en")
    await expect(page).to_have_url(re.compile(r"\?lang=fr&lang_auto=1$"))
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.locator("#number-label")).to_have_text("Votre numéro")
    await expect(page.locator("#headline")).to_have_text("Plus personne avant vous\u00a0!")
    assert_no_console_errors(page)

    page = await open_ticket(phone, german, locale="en")
    await expect(page).to_have_url(re.compile(r"\?lang=de&lang_auto=1$"))
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    de = strings("de", ("ticket",))
    await expect(page.locator("#number-label")).to_have_text(de["ticket.your_number"])
    await expect(page.locator("#headline")).to_have_text(de["ticket.headline_waiting"])
    assert_no_console_errors(page)

    # Someone who once picked German on these pages (remembered in a cookie) opens the French
    # ticket: their choice wins, as a `?lang=` would (it once switched to French regardless).
    page = await phone(locale="en")
    await page.context.add_cookies([{"name": LANG_COOKIE, "value": "de", "url": live_stack.url}])
    await page.goto(f"/t/{canadian['ticket_id']}#token={canadian['token']}")
    await expect(page.locator("#number-label")).to_have_text(de["ticket.your_number"])
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    assert "lang=" not in page.url
    assert_no_console_errors(page)


async def test_german_from_the_kiosks_switcher_and_an_austrian_browser(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Bürgeramt")
    queue_id, version = await make_queue(tenant, name="Meldewesen")
    kiosk, ticket_words = words("de"), strings("de", ("ticket",))

    page = await open_kiosk(desktop, tenant)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.locator(".kiosk-languages a", has_text="Deutsch").click()
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.locator("#start-title")).to_have_text(kiosk["kiosk.title"])
    await to_details(page, "Meldewesen")
    await page.locator("#take").click()
    await expect(page.locator("#ticket-title")).to_have_text(kiosk["kiosk.your_number"])
    ticket = (await waiting_at(tenant, queue_id, version + 1))[-1]
    assert ticket["language"] == "de"
    await shoot(page, "kiosk-ticket-desktop-de")
    await check_a11y(page, "kiosk-ticket-desktop-de")
    assert_no_console_errors(page)

    mine = (await tenant.enqueue(queue_id, role="kiosk", language="de"))["ticket"]
    page = await open_ticket(phone, mine, locale="de-AT")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.locator("#number-label")).to_have_text(ticket_words["ticket.your_number"])
    await expect(page.locator("#headline")).to_have_text(ticket_words["ticket.headline_waiting"])
    await assert_fits(page)
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "2"}, role="staff")
    await expect(page.locator("#turn-counter")).to_have_text(
        ticket_words["ticket.turn_counter"].format(counter="2"), timeout=LIVE_WITHIN_MS
    )
    await shoot(page, "ticket-called-phone-de")
    await check_a11y(page, "ticket-called-phone-de")
    assert "lang=" not in page.url, "the browser's German and the ticket's agree: no switch"
    assert_no_console_errors(page)
