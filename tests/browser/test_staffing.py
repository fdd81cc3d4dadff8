"""The dashboard's staffing plan, in Chromium against a real API process: three past mornings of a
queue (written to the stack's event store with their own times, then published and folded like
any), a plan for the next Monday made in the background with its progress shown, one quarter
hour edited with the keyboard and the buttons, the edited plan checked, and the CSV downloaded in
the format `vq simulate --staffing --plan` reads."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import expect

from domain.commands import (
    CallNext,
    CloseQueue,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    OpenQueue,
    StartService,
)
from domain.config import QueueConfig
from eventstore.postgres import PostgresEventStore
from eventstore.values import CommandContext
from service_layer.queues import CommandRequest, QueueService
from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack

PARIS = ZoneInfo("Europe/Paris")
MONDAYS = [datetime(2026, 11, day, 9, 0, tzinfo=PARIS) for day in (9, 16, 23)]
PLAN_TIMEOUT_MS = 180_000


class Clock:
    now = MONDAYS[0] - timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


async def _history(stack: LiveStack, tenant_id: str) -> tuple[str, int]:
    """Three mornings: open 09:00-11:00, one person every 3 min until 10:30, 5 min a service at
    two counters. The queue id and its last version."""
    clock, queue_id = Clock(), str(uuid.uuid4())
    service = QueueService(PostgresEventStore(stack.pool), clock)
    version = 0

    async def run(command: Any) -> Any:
        nonlocal version
        cid = str(uuid.uuid4())
        context = CommandContext(
            command_id=cid, correlation_id=cid, actor="test", occurred_at=clock.now
        )
        outcome = await service.execute(
            CommandRequest(tenant_id=tenant_id, queue_id=queue_id, command=command, context=context)
        )
        version = outcome.versions[queue_id]
        return outcome

    config = QueueConfig(
        name="Permits", counters=("1", "2", "3"), target_wait_seconds=600, timezone="Europe/Paris"
    )
    await run(CreateQueue(queue_id=queue_id, tenant_id=tenant_id, config=config, status="closed"))
    for monday in MONDAYS:
        clock.now = monday
        await run(OpenQueue())
        busy: dict[str, tuple[str, datetime]] = {}
        waiting, arrival = 0, monday
        while clock.now < monday + timedelta(hours=2):
            if clock.now >= arrival and clock.now < monday + timedelta(minutes=90):
                await run(EnqueueTicket(ticket_id=str(uuid.uuid4())))
                waiting, arrival = waiting + 1, arrival + timedelta(minutes=3)
            for counter in ("1", "2"):
                if counter in busy and clock.now >= busy[counter][1]:
                    await run(CompleteService(ticket_id=busy.pop(counter)[0]))
                if counter not in busy and waiting:
                    called = (await run(CallNext(counter=counter))).ticket.ticket_id
                    await run(StartService(ticket_id=called))
                    busy[counter] = (called, clock.now + timedelta(minutes=5))
                    waiting -= 1
            clock.now += timedelta(seconds=30)
        for ticket, _ in busy.values():
            await run(CompleteService(ticket_id=ticket))
        await run(CloseQueue())
    return queue_id, version


async def test_a_manager_makes_edits_checks_and_downloads_a_plan(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Permits office")
    queue_id, version = await _history(live_stack, tenant.tenant_id)
    await tenant.read_queue(queue_id, version)
    page = await desktop()
    await page.goto(f"/dashboard#key={tenant.keys['manager']}")
    figure = page.locator("#f-staffing")
    await expect(figure).to_contain_text("No plan yet")
    # The queue chosen first (choosing one resets the plan's figure), then the other figures
    # loaded (they move the page as they fill: a click then can miss).
    await expect(page.locator("#queue")).to_have_value(queue_id)
    await expect(page.locator("main")).not_to_contain_text("Loading…", timeout=PLAN_TIMEOUT_MS)
    await page.fill("#plan-day", "2026-11-30")
    await page.click("#plan-make")
    await expect(figure.locator("[role=status]")).to_be_visible()  # progress while it runs
    summary = figure.locator(".plan-summary")
    await expect(summary).to_contain_text("Plan for 2026-11-30", timeout=PLAN_TIMEOUT_MS)
    await expect(summary).to_contain_text("fresh simulated days")
    bars = figure.locator("[data-slot]")
    assert await bars.count() >= 8  # 09:00-11:00 at least, a bar per quarter hour
    await expect(figure.locator("#plan-check")).to_be_disabled()  # nothing edited yet

    first = bars.nth(0)
    before = await first.get_attribute("aria-label")
    await first.focus()
    await page.keyboard.press("ArrowUp")
    after = await bars.nth(0).get_attribute("aria-label")
    assert before != after and "09:00" in (after or "")
    await bars.nth(1).click()
    await page.click("#plan-more")
    await expect(figure.locator("#plan-edited")).to_contain_text("Edited")
    await shoot(page, "dashboard-staffing")
    await page.click("#plan-check")
    await expect(summary).to_contain_text("Your plan for 2026-11-30", timeout=PLAN_TIMEOUT_MS)

    async with page.expect_download() as download:
        await page.click("#plan-csv")
    path = await (await download.value).path()
    rows = path.read_text().strip().splitlines()
    assert rows[0] == "time,forecast,counters" and rows[1].startswith("09:00,")
    assert len(rows) == await bars.count() + 1
    await check_a11y(page, "dashboard-staffing")
    assert_no_console_errors(page)
