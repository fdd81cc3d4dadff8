"""The staff console's break: "Break" asks for how long and says when the counter is back, the
queue's view lists the break (so the estimates count on the return) and the board says when the
counter is back; "Back" ends it early."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Route, expect

from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack
from tests.browser.test_staff import _numbers, _pick, _sign_in


async def _breaks(tenant: Any, queue_id: str) -> list[dict[str, Any]]:
    answer = await tenant.stack.http.get(
        f"/v1/queues/{queue_id}", headers=tenant.auth("viewer"), params={"wait": 0}
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["breaks"])


async def _lagging(route: Route) -> None:
    answer = await route.fetch()
    body = await answer.json()
    body["now"] = (datetime.fromisoformat(body["now"]) - timedelta(seconds=3)).isoformat()
    await route.fulfill(response=answer, json=body)


async def test_a_break_for_a_while_then_back_early(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Breaks")
    queue_id = await tenant.create_queue(name="Desk", counters=["1", "2"])
    await _numbers(tenant, queue_id, 2)
    page = await desktop()
    # The console reads the API's clock 3 s behind (as a slow answer to /v1/clock leaves it): a
    # break taken now starts "ahead" of it, and reads as under way once the console's clock is
    # there, not at the next 30 s redraw.
    await page.route("**/v1/clock", _lagging)
    await _sign_in(page, await tenant.person("staff"))
    await _pick(page, "Desk", "2")

    await page.click("#staff-break")
    await expect(page.locator("#staff-dialog")).to_be_visible()
    await page.select_option("#staff-field-minutes", "30")
    await page.click("#staff-dialog-ok")
    await expect(page.locator("#staff-back")).to_be_visible()
    await expect(page.locator("#staff-break")).to_be_hidden()
    await expect(page.locator("#staff-break-note")).to_contain_text("back at", timeout=15_000)
    mine = page.locator("#staff-counter-list li.is-mine")
    await expect(mine).to_contain_text("back at")
    [found] = await _until_breaks(tenant, queue_id, 1)
    assert found["counter"] == "2"
    # The board in the waiting room says when counter 2 is back.
    board = await desktop()
    await board.goto(f"/board/{queue_id}#key={tenant.keys['display']}")
    card = board.locator('#serving li[data-counter="2"]')
    await expect(card).to_contain_text("back at")
    await expect(board.locator('#serving li[data-counter="1"]')).not_to_contain_text("back at")

    await page.click("#staff-back")
    await expect(page.locator("#staff-break")).to_be_visible()
    await expect(page.locator("#staff-break-note")).to_have_text("")
    await expect(mine).to_contain_text("free")
    assert await _until_breaks(tenant, queue_id, 0) == []
    await expect(card).not_to_contain_text("back at")
    assert_no_console_errors(board)
    assert_no_console_errors(page)


async def test_a_counter_serving_two_queues_takes_its_break_in_both(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Breaks, two queues")
    deposits = await tenant.create_queue(name="Deposits", prefix="D", counters=["1", "2"])
    loans = await tenant.create_queue(name="Loans", prefix="L", counters=["1"])
    page = await desktop()
    await _sign_in(page, await tenant.person("staff"))
    await page.select_option("#staff-queue", label="Deposits")
    await page.select_option("#staff-counter", "1")
    await (
        page.get_by_role("group", name="Serve several queues from this counter")
        .get_by_label("Loans")
        .check()
    )
    await page.click("#staff-setup-go")
    await expect(page.locator("#staff-where-queue")).to_have_text("Deposits and Loans")

    await page.click("#staff-break")
    await page.select_option("#staff-field-minutes", "15")
    await page.click("#staff-dialog-ok")
    await expect(page.locator("#staff-back")).to_be_visible()
    for queue_id in (deposits, loans):
        assert [b["counter"] for b in await _until_breaks(tenant, queue_id, 1)] == ["1"]

    await page.click("#staff-back")
    await expect(page.locator("#staff-break")).to_be_visible()
    for queue_id in (deposits, loans):
        assert await _until_breaks(tenant, queue_id, 0) == []
    assert_no_console_errors(page)


async def test_a_break_planned_ahead_is_listed_then_cancelled(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    """The day's lunch rota: "in 30 min, for 15". The queue lists the break from then (so the
    estimates count on it), the console says when, and "Cancel the break" drops it."""
    tenant = await live_stack.tenant("Breaks, planned")
    queue_id = await tenant.create_queue(name="Desk", counters=["1", "2"])
    page = await desktop()
    await _sign_in(page, await tenant.person("staff"))
    await _pick(page, "Desk", "1")

    asked = datetime.now(UTC)
    await page.click("#staff-break")
    await page.select_option("#staff-field-starts", "30")
    await page.select_option("#staff-field-minutes", "15")
    await page.click("#staff-dialog-ok")
    await expect(page.locator("#staff-status")).to_contain_text("Break planned in 30 min")
    [found] = await _until_breaks(tenant, queue_id, 1)
    starts = datetime.fromisoformat(found["starts_at"])
    ends = datetime.fromisoformat(found["ends_at"])
    assert found["counter"] == "1" and ends - starts == timedelta(minutes=15)
    assert timedelta(minutes=29) < starts - asked < timedelta(minutes=31)  # the service's now
    cancel = page.locator("#staff-back")
    await expect(cancel).to_have_text("Cancel the break")
    await expect(page.locator("#staff-break-note")).to_contain_text("break ")
    await expect(page.locator("#staff-break")).to_be_hidden()

    await cancel.click()
    await expect(page.locator("#staff-status")).to_contain_text("The planned break is off")
    await expect(page.locator("#staff-break")).to_be_visible()
    assert await _until_breaks(tenant, queue_id, 0) == []
    assert_no_console_errors(page)


async def _until_breaks(tenant: Any, queue_id: str, count: int) -> list[dict[str, Any]]:
    """The queue's breaks once the read side shows `count` of them (within 10 s)."""
    for _ in range(100):
        found = await _breaks(tenant, queue_id)
        if len(found) == count:
            return found
        await asyncio.sleep(0.1)
    return found


async def test_the_board_says_a_break_when_it_begins_and_stops_when_it_ends(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    """A break set for a moment ahead: nothing happens on the queue when it begins or ends (no
    event), and the board and the display in the waiting room say "back at" from its start to
    its end."""
    tenant = await live_stack.tenant("Breaks on the board")
    queue_id = await tenant.create_queue(name="Desk", counters=["1", "2"])
    board = await desktop()
    await board.goto(f"/board/{queue_id}#key={tenant.keys['display']}")
    display = await desktop()
    await display.goto(f"/display#key={tenant.keys['display']}")
    cards = [
        board.locator('#serving li[data-counter="2"]'),
        display.locator('.counter[data-counter="2"]'),
    ]
    for card in cards:
        await expect(card).to_be_visible()
    now = datetime.now(UTC)
    body = {
        "counter": "2",
        "starts_at": (now + timedelta(seconds=4)).isoformat(),
        "ends_at": (now + timedelta(seconds=9)).isoformat(),
    }
    answer = await tenant.stack.http.post(
        f"/v1/queues/{queue_id}/breaks", headers=tenant.auth(), json=body
    )
    assert answer.status_code == 200, answer.text
    for card in cards:  # begun: no event said so
        await expect(card).to_contain_text("back at", timeout=10_000)
    assert datetime.now(UTC) >= now + timedelta(seconds=3)  # not before it began
    for card in cards:  # over
        await expect(card).not_to_contain_text("back at", timeout=10_000)
    assert datetime.now(UTC) >= now + timedelta(seconds=8)
    assert_no_console_errors(board)
    assert_no_console_errors(display)
