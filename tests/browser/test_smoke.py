"""The browser-test machinery works end to end, on the two pages the product had before issue 12:
the board (/board/{queue_id}) and the manager's dashboard (/dashboard), at desktop and phone size.

Each page is loaded from a real API process, screenshotted, checked by axe-core and checked for
console errors; the board then shows a ticket taken over HTTP within 2 s without a reload (the
command went through the relay, the stream worker, Redis and the queue's SSE stream). The live
stack's tenant has a key of every role and people who sign in with a password.

These two older pages take their key in the query (`?access_token=`), as they always did; the
pages of issue 12 take it from the fragment.
"""

from __future__ import annotations

import time

from playwright.async_api import expect

from access.permissions import ROLES
from tests.browser.audit import CheckA11y, Finding, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack

LIVE_WITHIN_MS = 2_000
# Neither older page names an icon, so Chromium asks for /favicon.ico, which the API answers 404.
NO_FAVICON = r"404 .*/favicon\.ico"


async def test_board_and_dashboard_on_desktop_and_phone(
    live_stack: LiveStack, desktop: OpenPage, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Smoke clinic")
    queue_id = await tenant.create_queue(name="Front desk", counters=["1", "2"])
    first = (await tenant.enqueue(queue_id))["ticket"]
    await tenant.post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}, role="staff")
    for _ in range(2):
        last = await tenant.enqueue(queue_id)
    await tenant.read_queue(queue_id, last["stream_version"])

    left: dict[str, list[Finding]] = {}
    for size, open_page in (("desktop", desktop), ("phone", phone)):
        board, name = await open_page(), f"legacy-board-{size}"
        await board.goto(f"/board/{queue_id}?access_token={tenant.keys['display']}")
        await expect(board.locator("#name")).to_have_text("Front desk")
        await expect(board.locator("#serving")).to_contain_text(str(first["number"]))
        await expect(board.locator("#live")).to_have_class("on")
        await shoot(board, name)
        left[name] = await check_a11y(board, name)
        assert_no_console_errors(board, NO_FAVICON)

        dashboard, name = await open_page(), f"legacy-dashboard-{size}"
        await dashboard.goto(f"/dashboard?access_token={tenant.keys['manager']}")
        await expect(dashboard.locator("#k-waiting")).to_have_text("2")
        await expect(dashboard.locator("#live")).to_have_class("on")
        await shoot(dashboard, name)
        left[name] = await check_a11y(dashboard, name)
        assert_no_console_errors(dashboard, NO_FAVICON)
    for name, findings in left.items():
        print(f"{name}: " + (", ".join(f"{f.rule} ({f.impact})" for f in findings) or "clean"))


async def test_the_board_shows_a_new_ticket_within_2_s_without_a_reload(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Live clinic")
    queue_id = await tenant.create_queue(name="Lab", counters=["1"])
    board = await desktop()
    await board.goto(f"/board/{queue_id}?access_token={tenant.keys['display']}")
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
    assert_no_console_errors(board, NO_FAVICON)


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
