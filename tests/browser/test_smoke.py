"""The browser-test machinery works end to end, on the two pages the product had before issue 12:
the board (/board/{queue_id}) and the manager's dashboard (/dashboard), at desktop and phone size,
in English and in Spanish.

Each page is loaded from a real API process, screenshotted, checked by axe-core and checked for
console errors; the board then shows a ticket taken over HTTP within 2 s without a reload (the
command went through the relay, the stream worker, Redis and the queue's SSE stream). The live
stack's tenant has a key of every role and people who sign in with a password.

Both pages take their key from the fragment (`#key=`, kept by the browser) like the pages of
issue 12, or from the query (`?access_token=`) as their links always could; either way the
script sends it as a header.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from playwright.async_api import Page, expect

from access.permissions import ROLES
from tests.browser.audit import CheckA11y, Finding, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant

LIVE_WITHIN_MS = 2_000
# A board whose key was refused logs the refused stream (401) as a failed load.
REFUSED = r"status of 401"


async def a_morning(tenant: Tenant) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A queue with one person called at counter 1 and two waiting; the read side caught up."""
    queue_id = await tenant.create_queue(name="Front desk", counters=["1", "2"])
    first = (await tenant.enqueue(queue_id))["ticket"]
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
    for _ in range(2):
        last = await tenant.enqueue(queue_id)
    view = await tenant.read_queue(queue_id, last["stream_version"])
    return queue_id, first, view


async def board_shows(board: Page, number: str) -> None:
    await expect(board.locator("#name")).to_have_text("Front desk")
    await expect(board.locator("#serving")).to_contain_text(number)
    await expect(board.locator("#live")).to_have_class("on")


async def test_board_and_dashboard_on_desktop_and_phone(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Smoke clinic")
    queue_id, first, _ = await a_morning(tenant)
    # A link with the key in its query (as board links always were), and one in its fragment.
    links = {
        "desktop": ("?access_token={key}", desktop),
        "phone": ("#key={key}", phone),
    }
    left: dict[str, list[Finding]] = {}
    for size, (credential, open_page) in links.items():
        board, name = await open_page(), f"board-{size}"
        await board.goto(f"/board/{queue_id}" + credential.format(key=tenant.keys["display"]))
        await board_shows(board, first["number"])
        await expect(board.locator("#stats")).to_contain_text("Waiting")
        assert "key=" not in board.url
        await shoot(board, name)
        left[name] = await check_a11y(board, name)
        assert_no_console_errors(board)

        dashboard, name = await open_page(), f"dashboard-{size}"
        await dashboard.goto("/dashboard" + credential.format(key=tenant.keys["manager"]))
        await expect(dashboard.locator("#k-waiting")).to_have_text("2")
        await expect(dashboard.locator("#live")).to_have_class("on")
        await expect(dashboard.locator("#today")).to_contain_text("arrivals")
        await expect(dashboard.locator("#f-bottlenecks")).to_contain_text("Nothing to compare")
        await shoot(dashboard, name)
        left[name] = await check_a11y(dashboard, name)
        if size == "phone":
            width = await dashboard.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 360, f"the dashboard is {width} px wide on a 360 px screen"
        assert_no_console_errors(dashboard)
    for name, findings in left.items():
        print(f"{name}: " + (", ".join(f"{f.rule} ({f.impact})" for f in findings) or "clean"))


async def test_board_and_dashboard_in_spanish(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    """The browser's language chooses, numbers and times are written its way; ?lang= chooses
    too (a wall screen's link)."""
    tenant = await live_stack.tenant("Clínica")
    queue_id, first, view = await a_morning(tenant)

    dashboard = await desktop(locale="es-ES")
    await dashboard.goto(f"/dashboard#key={tenant.keys['manager']}")
    await expect(dashboard.locator("html")).to_have_attribute("lang", "es")
    await expect(dashboard.locator("h1")).to_have_text("Panel de las filas")
    await expect(dashboard.locator("#k-waiting")).to_have_text("2")
    await expect(dashboard.locator("#live")).to_have_class("on")
    await expect(dashboard.locator("#k-serving-s")).to_have_text(
        "1 llamado, de camino · 2 ventanillas"
    )
    await expect(dashboard.locator("#today")).to_contain_text("llegadas")
    await expect(dashboard.locator("#f-flow svg")).to_have_attribute(
        "aria-label", "llegadas y atendidos cada 15 minutos"
    )
    await shoot(dashboard, "dashboard-desktop-es")
    findings = await check_a11y(dashboard, "dashboard-desktop-es")
    print("dashboard-desktop-es: " + (", ".join(f.rule for f in findings) or "clean"))
    assert_no_console_errors(dashboard)

    board = await desktop()  # an English browser: the link says Spanish
    await board.goto(f"/board/{queue_id}?lang=es#key={tenant.keys['display']}")
    await expect(board.locator("html")).to_have_attribute("lang", "es")
    await board_shows(board, first["number"])
    await expect(board.locator("#serving")).to_contain_text("Ventanilla 1")
    await expect(board.locator("#serving")).to_contain_text("Acuda, por favor")
    status = {"open": "Abierta", "paused": "En pausa", "closed": "Cerrada"}[view["status"]]
    await expect(board.locator("#status")).to_have_text(status)
    await check_a11y(board, "board-desktop-es")
    assert_no_console_errors(board)


async def test_a_board_without_a_working_key_says_so(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    tenant = await live_stack.tenant("Keyless clinic")
    queue_id = await tenant.create_queue(name="Lab", counters=["1"])
    board = await phone()
    await board.goto(f"/board/{queue_id}")  # no key anywhere: it says where one comes from
    await expect(board.locator("#board-problem")).to_contain_text("This screen has no key yet")
    await board.goto("about:blank")
    await board.goto(f"/board/{queue_id}#key=vq_revoked")
    await expect(board.locator("#board-problem")).to_contain_text("was refused")
    await expect(board.locator("#live")).not_to_have_class("on")
    assert_no_console_errors(board, REFUSED)


async def test_the_board_shows_a_new_ticket_within_2_s_without_a_reload(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Live clinic")
    queue_id = await tenant.create_queue(name="Lab", counters=["1"])
    board = await desktop()
    await board.goto(f"/board/{queue_id}#key={tenant.keys['display']}")
    await expect(board.locator("#next")).to_contain_text("Nobody is waiting")
    await expect(board.locator("#live")).to_have_class("on")
    await board.evaluate("() => { window.sameDocument = true; }")

    for _ in range(3):
        started = time.monotonic()
        ticket = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
        row = board.locator("#next .num", has_text=str(ticket["number"]))
        await expect(row).to_be_visible(timeout=LIVE_WITHIN_MS)
        took = time.monotonic() - started
        print(f"ticket {ticket['number']} on the board {took:.2f} s after the POST")
    assert await board.evaluate("() => window.sameDocument === true"), "the board reloaded"
    assert_no_console_errors(board)


async def test_a_board_says_updates_are_delayed_while_the_worker_is_stopped(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    """Never stale data shown as live: with the stream worker stopped (SIGSTOP) while a person
    joins, the board's pill turns from "Live" to "Updates delayed" (the stream's `event:
    status`, query_api/freshness.py, after `VQ_READ_SIDE_STALL_S`, 10 s), and back to "Live"
    with the person on it once the worker runs again."""
    tenant = await live_stack.tenant("Stalled clinic")
    queue_id = await tenant.create_queue(name="Lab", counters=["1"])
    board = await desktop()
    await board.goto(f"/board/{queue_id}#key={tenant.keys['display']}")
    await expect(board.locator("#live")).to_have_class("on")
    (worker,) = [s for s in live_stack.services if s.name == "worker"]
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        ticket = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]
        await expect(board.locator("#live")).to_have_class("delayed", timeout=STALL_SAID_MS)
        await expect(board.locator("#live-text")).to_have_text("Updates delayed")
        await expect(board.locator("#next")).to_contain_text("Nobody is waiting")
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    await expect(board.locator("#next .num", has_text=str(ticket["number"]))).to_be_visible(
        timeout=STALL_SAID_MS
    )
    await expect(board.locator("#live")).to_have_class("on", timeout=STALL_SAID_MS)
    assert_no_console_errors(board)


# The default stall (10 s), a sample every 5 s, with room for a busy machine.
STALL_SAID_MS = 30_000


async def test_the_tenant_has_a_key_of_every_role_and_people_who_sign_in(
    live_stack: LiveStack,
) -> None:
    tenant = await live_stack.tenant("Keys clinic")
    assert set(tenant.keys) == set(ROLES)
    for role in ROLES:
        answer = await live_stack.http.get("/v1/queues", headers=tenant.auth(role))
        assert answer.status_code == 200, (role, answer.text)
    staff = await tenant.person("staff", language="es")
    signed_in = await live_stack.http.post("/v1/auth/login", json=staff.login())
    assert signed_in.status_code == 200, signed_in.text
    me = await live_stack.http.get(
        "/v1/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    )
    assert me.status_code == 200, me.text
    assert (me.json()["email"], me.json()["role"]) == (staff.email, "staff")


async def test_no_page_scrolls_sideways_on_a_360_px_phone_with_a_long_queue_name(
    live_stack: LiveStack, phone: OpenPage
) -> None:
    """A queue's long name (the dashboard's queue select is as wide as its longest option unless
    told otherwise) never makes a page wider than the phone."""
    tenant = await live_stack.tenant("Long names clinic")
    long_name = "Outpatient phlebotomy and blood test results collection desk, east wing"
    queue_id = await tenant.create_queue(name=long_name, counters=["1"])
    await tenant.create_queue(name="Lab", counters=["1"])
    ticket = (await tenant.enqueue(queue_id))["ticket"]
    ticket_page = f"/t/{ticket['ticket_id']}#token={ticket['token']}"
    pages = {
        "dashboard": (f"/dashboard#key={tenant.keys['manager']}", "#k-waiting", "1"),
        "board": (f"/board/{queue_id}#key={tenant.keys['display']}", "#name", long_name),
        "kiosk": (f"/kiosk#key={tenant.keys['kiosk']}", "#queues", long_name),
        "ticket": (ticket_page, "#number", ticket["number"]),
    }
    for name, (path, where, shown) in pages.items():
        page = await phone()
        await page.goto(path)
        await expect(page.locator(where)).to_contain_text(shown)
        if name == "dashboard":
            await page.select_option("#queue", label=long_name)
            await expect(page.locator("#k-waiting")).to_have_text("1")
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"the {name} is {width} px wide on a 360 px phone"
        assert_no_console_errors(page)
