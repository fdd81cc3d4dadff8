"""The kiosk (/kiosk#key=...) in Chromium against a live stack: a person takes a ticket (picks the
queue and the service, leaves a phone and an email, gets the number, the wait and the QR code of
the ticket page, prints it on an 80 mm receipt), the screen goes back to the start by itself, every
refusal is said in the person's language, a lost network shows the banner and the ticket is taken
exactly once when it comes back, and a missing or refused key says so on the whole screen.

Screenshots (.vq/screenshots/kiosk-*.png) at phone, desktop and kiosk sizes; axe-core on every
screen (0 serious or critical).
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from playwright.async_api import Page, expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from web.i18n import strings
from web.routes_qr import qr_svg, ticket_page_url

PORTRAIT = {"width": 1080, "height": 1920}  # a kiosk standing up
LANDSCAPE = {"width": 1366, "height": 768}
# What Chromium logs by itself for answers the page handles (a refusal, a key refused, no network).
REFUSED = r"status of (401|403|409)"
OFFLINE = r"ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_RESET|Failed to fetch"


def words(lang: str) -> dict[str, str]:
    """The kiosk's words in `lang`, as the page gets them."""
    return strings(lang, ("kiosk",))


async def make_queue(tenant: Tenant, **body: Any) -> tuple[str, int]:
    """A queue and its stream version once the read side has it."""
    made = await tenant.post("/v1/queues", {"counters": ["1", "2"], **body})
    await tenant.read_queue(made["queue_id"], made["stream_version"])
    return str(made["queue_id"]), int(made["stream_version"])


async def waiting_at(tenant: Tenant, queue_id: str, version: int) -> list[dict[str, Any]]:
    """The waiting line once the read side reached `version` (asserting it went no further)."""
    view = await tenant.read_queue(queue_id, version)
    assert view["version"] == version, f"the queue moved on to {view['version']}: another command"
    answer = await tenant.stack.http.get(
        f"/v1/queues/{queue_id}/waiting", headers=tenant.auth("viewer")
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["tickets"])


async def open_kiosk(open_page: OpenPage, tenant: Tenant, lang: str = "en", query: str = "", **options: Any) -> Page:  # fmt: skip
    page = await open_page(locale=lang, **options)
    await page.goto(f"/kiosk{query}#key={tenant.keys['kiosk']}")
    await expect(page.locator("#screen-start")).to_be_visible()
    await expect(page.locator("#queues .queue-card").first).to_be_visible()
    return page


def card(page: Page, name: str) -> Any:
    return page.locator("#queues .queue-card", has=page.locator(".queue-name", has_text=name))


async def to_details(page: Page, queue: str, service: str | None = None) -> None:
    await card(page, queue).click()
    if service is not None:
        await expect(page.locator("#screen-service")).to_be_visible()
        await page.locator("#services .choice", has_text=service).click()
    await expect(page.locator("#screen-details")).to_be_visible()


async def qr_bytes(page: Page) -> bytes:
    # The ticket shows at once; its QR code comes from a second request, a moment later.
    await expect(page.locator("#ticket-qr")).to_be_visible()
    source = await page.locator("#ticket-qr").get_attribute("src") or ""
    head, _, data = source.partition(",")
    assert head == "data:image/svg+xml;base64", source[:60]
    return base64.b64decode(unquote(data))


async def test_take_a_ticket_at_every_size(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Kiosk clinic")
    front, version = await make_queue(
        tenant, name="Front desk", prefix="F", service_types=["New patient", "Follow-up"]
    )
    for _ in range(2):
        version = (await tenant.enqueue(front))["stream_version"]
    pharmacy, _ = await make_queue(tenant, name="Pharmacy", prefix="P")
    await tenant.post(f"/v1/queues/{pharmacy}/pause", {"reason": "lunch"})
    lab, _ = await make_queue(tenant, name="Laboratory", prefix="L")
    await tenant.post(f"/v1/queues/{lab}/close", {})
    en = words("en")

    sizes: list[tuple[str, OpenPage, dict[str, Any]]] = [
        ("desktop", desktop, {}),
        ("phone", phone, {}),
        ("portrait", desktop, {"viewport": PORTRAIT}),
        ("landscape", desktop, {"viewport": LANDSCAPE}),
    ]
    for taken, (size, open_page, options) in enumerate(sizes):
        page = await open_kiosk(open_page, tenant, **options)
        await expect(card(page, "Front desk")).to_contain_text(f"{2 + taken} waiting")
        await expect(card(page, "Front desk").locator(".queue-state")).to_have_text(en["kiosk.state_open"])  # fmt: skip
        await expect(card(page, "Pharmacy").locator(".queue-state")).to_have_text(en["kiosk.state_paused"])  # fmt: skip
        await expect(card(page, "Laboratory").locator(".queue-state")).to_have_text(en["kiosk.state_closed"])  # fmt: skip
        height = (await card(page, "Front desk").bounding_box() or {"height": 0})["height"]
        assert height >= 64, f"a queue is a large touch target ({height} px)"
        await shoot(page, f"kiosk-start-{size}")
        await check_a11y(page, f"kiosk-start-{size}")

        if size == "desktop":  # a paused queue still takes tickets, and says it is paused
            await to_details(page, "Pharmacy")
            await expect(page.locator("#details-paused")).to_have_text(en["kiosk.paused_note"])
            await page.locator("#screen-details [data-action=back]").click()
            await expect(page.locator("#screen-start")).to_be_visible()
        await card(page, "Front desk").click()
        await expect(page.locator("#screen-service")).to_be_visible()
        await check_a11y(page, f"kiosk-service-{size}")
        await page.locator("#services .choice", has_text="Follow-up").click()
        await expect(page.locator("#details-choice")).to_have_text("Front desk · Follow-up")
        await page.locator("#phone").fill("+44 7700 900123")
        await page.locator("#email").fill("ada@example.com")
        await shoot(page, f"kiosk-details-{size}")
        await check_a11y(page, f"kiosk-details-{size}")
        await page.locator("#take").click()

        version += 1
        await expect(page.locator("#screen-ticket")).to_be_visible()
        ticket = (await waiting_at(tenant, front, version))[-1]
        assert (ticket["service_type"], ticket["channel"], ticket["language"]) == ("Follow-up", "kiosk", "en")  # fmt: skip
        await expect(page.locator("#ticket-number")).to_have_text(ticket["number"])
        await expect(page.locator("#ticket-queue")).to_have_text("Front desk · Follow-up")
        await expect(page.locator("#ticket-ahead")).to_have_text(
            en["kiosk.ahead_other"].format(count=ticket["position"] - 1)
        )
        await expect(page.locator("#ticket-notify")).to_contain_text("+447700900123")
        await expect(page.locator("#ticket-qr")).to_be_visible()
        expected = qr_svg(ticket_page_url(live_stack.settings, ticket["ticket_id"]))
        assert await qr_bytes(page) == expected, "the QR code carries the ticket page and its token"
        told = await live_stack.http.get(
            f"/v1/tickets/{ticket['ticket_id']}/subscriptions", headers=tenant.auth("admin")
        )
        assert sorted(s["channel"] for s in told.json()["subscriptions"]) == ["email", "sms"]
        await shoot(page, f"kiosk-ticket-{size}")
        await check_a11y(page, f"kiosk-ticket-{size}")

        if size == "desktop":
            await printed(page, shoot)
        await page.locator("#done").click()
        await expect(page.locator("#screen-start")).to_be_visible()
        await card(page, "Front desk").click()
        await page.locator("#services .choice").first.click()
        await expect(page.locator("#phone")).to_have_value("")
        await expect(page.locator("#email")).to_have_value("")
        assert_no_console_errors(page)


async def printed(page: Page, shoot: Shoot) -> None:
    """ "Print" opens the browser's print dialog; the print layout is one 80 mm receipt."""
    await page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")  # fmt: skip
    await page.locator("#print").click()
    assert await page.evaluate("() => window.printed") == 1
    await page.emulate_media(media="print")
    try:
        for hidden in ("#print", "#done", "#countdown", ".kiosk-header"):
            await expect(page.locator(hidden)).to_be_hidden()
        for shown in ("#ticket-number", "#ticket-queue", "#ticket-time", "#ticket-qr", "#ticket-wait"):  # fmt: skip
            await expect(page.locator(shown)).to_be_visible()
        width = await page.locator("#ticket").evaluate("(e) => e.getBoundingClientRect().width")
        assert 250 <= width <= 303, f"the ticket is laid out for 80 mm paper ({width} px)"
        await shoot(page, "kiosk-print")
    finally:
        await page.emulate_media(media="screen")


async def test_the_kiosk_returns_to_the_start_by_itself(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Timeout clinic")
    await make_queue(tenant, name="Front desk")
    en = words("en")
    page = await open_kiosk(desktop, tenant, query="?reset=3&idle=2")

    await to_details(page, "Front desk")
    await page.locator("#phone").fill("+34 612 345 678")
    await expect(page.locator("#screen-start")).to_be_visible(timeout=5_000)
    await to_details(page, "Front desk")
    await expect(page.locator("#phone")).to_have_value("")

    await page.locator("#take").click()
    await expect(page.locator("#screen-ticket")).to_be_visible()
    await expect(page.locator("#countdown")).to_have_text(en["kiosk.returning"].format(seconds=3))
    await expect(page.locator("#countdown")).to_have_text(en["kiosk.returning"].format(seconds=1))
    await expect(page.locator("#screen-start")).to_be_visible(timeout=5_000)
    await expect(page.locator("#ticket-number")).to_have_text("")
    assert not await page.locator("#ticket-qr").get_attribute("src")
    assert_no_console_errors(page)


def outside_hours_now() -> list[dict[str, Any]]:
    """Opening hours that exclude now (UTC): one hour on a weekday three days away."""
    weekday = (datetime.now(UTC).weekday() + 3) % 7
    return [{"weekday": weekday, "opens": "09:00", "closes": "10:00"}]


async def test_every_refusal_is_said_in_the_persons_language(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    for lang, open_page in (("en", desktop), ("es", phone)):
        said = words(lang)
        tenant = await live_stack.tenant(f"Refusing clinic {lang}")
        closing, closing_v = await make_queue(tenant, name="Closing desk")
        small, small_v = await make_queue(tenant, name="Small desk", capacity=1)
        night, night_v = await make_queue(tenant, name="Night desk", opening_hours=outside_hours_now())  # fmt: skip
        page = await open_kiosk(open_page, tenant, lang=lang)
        assert await page.evaluate("() => document.documentElement.lang") == lang

        # Refused by the queue when the person takes the ticket (the screen did not know yet).
        await to_details(page, "Closing desk")
        closing_v = (await tenant.post(f"/v1/queues/{closing}/close", {}))["stream_version"]
        await tenant.read_queue(closing, closing_v)  # the list's refresh after the refusal sees it
        await page.locator("#take").click()
        await expect(page.locator("#message-text")).to_have_text(said["kiosk.refused_closed"])
        await expect(page.locator("#message-title")).to_have_text(said["kiosk.refused_title"])
        await shoot(page, f"kiosk-refused-{lang}")
        await check_a11y(page, f"kiosk-refused-{lang}")
        await page.locator("#screen-message button").click()

        await to_details(page, "Small desk")
        small_v = (await tenant.enqueue(small))["stream_version"]
        await tenant.read_queue(small, small_v)
        await page.locator("#take").click()
        await expect(page.locator("#message-text")).to_have_text(said["kiosk.refused_full"])
        await page.locator("#screen-message button").click()

        # The queue's hours are in its view: the card says so, and a touch explains, with today's.
        night_card = card(page, "Night desk")
        await expect(night_card.locator(".queue-state")).to_have_text(said["kiosk.state_outside_hours"])  # fmt: skip
        await night_card.click()
        await expect(page.locator("#message-text")).to_contain_text(said["kiosk.refused_outside_hours"])  # fmt: skip
        await expect(page.locator("#screen-message")).to_contain_text(said["kiosk.hours_none_today"])  # fmt: skip
        await page.locator("#screen-message button").click()

        # Once the list knows, the queue says so and a touch explains it (no form to fill first).
        await expect(card(page, "Closing desk").locator(".queue-state")).to_have_text(said["kiosk.state_closed"])  # fmt: skip
        await expect(card(page, "Small desk").locator(".queue-state")).to_have_text(said["kiosk.state_full"])  # fmt: skip
        await card(page, "Small desk").click()
        await expect(page.locator("#message-text")).to_have_text(said["kiosk.refused_full"])
        await page.locator("#screen-message button").click()

        assert await waiting_at(tenant, closing, closing_v) == []
        assert len(await waiting_at(tenant, small, small_v)) == 1
        assert await waiting_at(tenant, night, night_v) == []
        assert_no_console_errors(page, REFUSED)


async def test_a_lost_network_shows_the_banner_and_the_ticket_is_taken_once(
    live_stack: LiveStack, desktop: OpenPage, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Offline clinic")
    queue_id, version = await make_queue(tenant, name="Front desk")
    common = words("en")
    page = await open_kiosk(desktop, tenant)

    # The network goes while the list is on screen: the banner; back, the list refreshes itself.
    await page.context.set_offline(True)
    await expect(page.locator("#vq-banner")).to_contain_text(common["common.offline"])
    version = (await tenant.enqueue(queue_id))["stream_version"]
    await tenant.read_queue(queue_id, version)  # the read side has it before the network is back
    await page.context.set_offline(False)
    await expect(card(page, "Front desk")).to_contain_text("1 waiting")
    await expect(page.locator("#vq-banner")).to_have_text(common["common.back_online"])

    # Taking a ticket with no network: it waits, says so, and goes through once it is back.
    await to_details(page, "Front desk")
    await page.context.set_offline(True)
    await page.locator("#take").click()
    await expect(page.locator("#details-status")).to_have_text(common["kiosk.taking_offline"])
    await expect(page.locator("#vq-banner")).to_contain_text(common["common.offline"])
    await page.locator("#take").click(force=True)  # a second tap on the disabled button
    await shoot(page, "kiosk-offline-desktop")
    await asyncio.sleep(1.5)
    await page.context.set_offline(False)
    await expect(page.locator("#screen-ticket")).to_be_visible()
    version += 1
    line = await waiting_at(tenant, queue_id, version)
    await expect(page.locator("#ticket-number")).to_have_text(line[-1]["number"])
    await page.locator("#done").click()

    # The answer is lost on its way back (the ticket was made): the retry with the same
    # Idempotency-Key gets that ticket, not a second one.
    keys: list[str] = []

    async def lose_first_answer(route: Any) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            await route.fetch()  # the server takes the ticket ...
            await route.abort("connectionreset")  # ... and the kiosk never hears of it
        else:
            await route.continue_()

    await page.route("**/v1/queues/*/tickets", lose_first_answer)
    await to_details(page, "Front desk")
    await page.locator("#take").dblclick()  # and a double tap
    await expect(page.locator("#screen-ticket")).to_be_visible()
    version += 1
    line = await waiting_at(tenant, queue_id, version)
    await expect(page.locator("#ticket-number")).to_have_text(line[-1]["number"])
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0], keys
    await asyncio.sleep(1)
    assert len(await waiting_at(tenant, queue_id, version)) == 3
    assert_no_console_errors(page, OFFLINE)


async def test_no_key_or_a_refused_key_is_said_on_the_whole_screen(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Keyless clinic")
    await make_queue(tenant, name="Front desk")
    en, es = words("en"), words("es")

    page = await phone()
    await page.goto("/kiosk")
    await expect(page.locator("#screen-blocked")).to_be_visible()
    await expect(page.locator("#blocked-text")).to_have_text(en["common.no_key"])
    await shoot(page, "kiosk-no-key-phone")
    await check_a11y(page, "kiosk-no-key-phone")
    assert_no_console_errors(page)

    page = await desktop(locale="es")
    await page.goto("/kiosk#key=vq_not_a_real_key")
    await expect(page.locator("#blocked-text")).to_have_text(es["common.key_refused"])
    assert "key=" not in page.url, "the key leaves the address bar"
    assert_no_console_errors(page, REFUSED)

    # A key that may read but not take tickets: refused when it tries.
    page = await desktop()
    await page.goto(f"/kiosk#key={tenant.keys['viewer']}")
    await to_details(page, "Front desk")
    await page.locator("#take").click()
    await expect(page.locator("#blocked-text")).to_have_text(en["common.key_refused"])
    assert_no_console_errors(page, REFUSED)


async def test_keyboard_and_a_change_of_language_midway(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Keyboard clinic")
    queue_id, version = await make_queue(tenant, name="Front desk", service_types=["Blood test"])
    es = words("es")
    page = await open_kiosk(desktop, tenant)

    await card(page, "Front desk").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#service-title")).to_be_focused()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.locator("#details-title")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.locator("#phone")).to_be_focused()
    await page.keyboard.type("0034 612 345 678")
    await page.keyboard.press("Escape")
    await expect(page.locator("#screen-start")).to_be_visible()

    # Switching language on the details screen keeps the choice and what was typed.
    await to_details(page, "Front desk", "Blood test")
    await page.locator("#phone").fill("0034 612 345 678")
    await page.locator(".kiosk-languages a[data-lang=es]").click()
    await expect(page.locator("#details-title")).to_have_text(es["kiosk.details_title"])
    await expect(page.locator("#details-choice")).to_have_text("Front desk · Blood test")
    await expect(page.locator("#phone")).to_have_value("0034 612 345 678")
    await page.locator("#phone").press("Enter")  # Enter in a field takes the ticket

    await expect(page.locator("#screen-ticket")).to_be_visible()
    ticket = (await waiting_at(tenant, queue_id, version + 1))[-1]
    assert (ticket["language"], ticket["service_type"]) == ("es", "Blood test")
    await expect(page.locator("#ticket-number")).to_have_text(ticket["number"])
    await expect(page.locator("#ticket-notify")).to_have_text(
        es["kiosk.notify_sms"].format(phone="+34612345678")
    )
    await expect(page.locator("#ticket-wait")).to_have_text(es["kiosk.wait_next"])
    assert_no_console_errors(page)


async def test_opening_hours_go_by_the_apis_clock_not_the_kiosks(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    """A kiosk PC whose clock is days off (as a demo's API clock on a later day would be): the
    screen judges the hours on the API's clock, takes in whom the API takes in, turns away whom
    it turns away, and prints the API's time on the ticket."""
    tenant = await live_stack.tenant("Clock clinic")
    now = await live_stack.clock()
    # Open all day today and tomorrow (the API's, UTC): closed on the kiosk's day, 3 days later.
    days = sorted({now.weekday(), (now.weekday() + 1) % 7})
    hours = [{"weekday": d, "opens": "00:00", "closes": "24:00"} for d in days]
    day_desk, version = await make_queue(tenant, name="Day desk", opening_hours=hours)
    kiosk_day = (now + timedelta(days=3)).weekday()
    later = [{"weekday": kiosk_day, "opens": "00:00", "closes": "24:00"}]
    await make_queue(tenant, name="Later desk", opening_hours=later)
    en = words("en")

    page = await desktop(timezone_id="UTC")
    await page.clock.install(time=now + timedelta(days=3))
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await page.goto(f"/kiosk#key={tenant.keys['kiosk']}")
    await expect(card(page, "Day desk").locator(".queue-state")).to_have_text(en["kiosk.state_open"])  # fmt: skip
    await expect(card(page, "Later desk").locator(".queue-state")).to_have_text(en["kiosk.state_outside_hours"])  # fmt: skip

    await card(page, "Later desk").click()  # the API says no too: said at once, no form to fill
    await expect(page.locator("#message-text")).to_have_text(en["kiosk.refused_outside_hours"])
    await expect(page.locator("#message-hours")).to_have_text(en["kiosk.hours_none_today"])
    assert posts == []
    await page.locator("#screen-message button").click()

    await to_details(page, "Day desk")
    await page.locator("#take").click()
    await expect(page.locator("#screen-ticket")).to_be_visible()
    ticket = (await waiting_at(tenant, day_desk, version + 1))[-1]
    await expect(page.locator("#ticket-number")).to_have_text(ticket["number"])
    taken = datetime.fromisoformat(ticket["enqueued_at"])
    await expect(page.locator("#ticket-time")).to_contain_text(f"{taken:%b} {taken.day}, {taken.year}")  # fmt: skip
    assert_no_console_errors(page)

    # The API's clock cannot be read: the kiosk's own judgement turns nobody away, the enqueue
    # has the last word.
    page = await desktop(timezone_id="UTC")
    await page.clock.install(time=now + timedelta(days=3))
    await page.route("**/v1/clock", lambda route: route.abort("connectionrefused"))
    await page.goto(f"/kiosk#key={tenant.keys['kiosk']}")
    await to_details(page, "Day desk")
    await page.locator("#take").click()
    await expect(page.locator("#screen-ticket")).to_be_visible()
    ticket = (await waiting_at(tenant, day_desk, version + 2))[-1]
    await expect(page.locator("#ticket-number")).to_have_text(ticket["number"])
    assert_no_console_errors(page, r"ERR_CONNECTION_REFUSED|ERR_FAILED")


async def test_a_double_tap_picks_only_what_was_touched(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage
) -> None:
    """The second tap of a double tap (or an impatient one) lands on the screen the first tap
    opened: it picks nothing there (not the service that came under the finger)."""
    tenant = await live_stack.tenant("Double tap clinic")
    front, version = await make_queue(
        tenant, name="Front desk", service_types=["New patient", "Follow-up", "Results"]
    )
    sizes: list[tuple[OpenPage, dict[str, Any]]] = [
        (phone, {}),
        (desktop, {"viewport": PORTRAIT, "has_touch": True}),
    ]
    for open_page, options in sizes:
        page = await open_kiosk(open_page, tenant, **options)
        await page.wait_for_timeout(500)  # the start screen is a new screen too
        await double_tap(page, card(page, "Front desk"))
        await expect(page.locator("#screen-service")).to_be_visible()
        await page.wait_for_timeout(500)
        assert await page.evaluate("() => document.body.dataset.screen") == "service"

        await double_tap(page, page.locator("#services .choice", has_text="Follow-up"))
        await expect(page.locator("#details-choice")).to_have_text("Front desk · Follow-up")
        await page.wait_for_timeout(500)
        assert await page.evaluate("() => document.body.dataset.screen") == "details"

        await double_tap(page, page.locator("#take"))
        await expect(page.locator("#screen-ticket")).to_be_visible()
        await page.wait_for_timeout(500)
        assert await page.evaluate("() => document.body.dataset.screen") == "ticket"
        version += 1
        ticket = (await waiting_at(tenant, front, version))[-1]
        assert ticket["service_type"] == "Follow-up"
        await expect(page.locator("#ticket-number")).to_have_text(ticket["number"])
        assert_no_console_errors(page)


async def double_tap(page: Page, target: Any) -> None:
    """Two taps 120 ms apart on the middle of `target` (where it is at the first), scrolled into
    view first as a person would (on a phone the language choice can push it below the fold)."""
    await target.scroll_into_view_if_needed()
    box = await target.bounding_box()
    assert box, "nothing to tap"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.touchscreen.tap(x, y)
    await asyncio.sleep(0.12)
    await page.touchscreen.tap(x, y)
