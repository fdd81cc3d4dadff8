"""A person's data (GDPR) in a real browser against the live stack.

An administrator finds a person by e-mail (two tickets taken over the API with their details and
an e-mail subscription, a stranger's ticket beside them), sees what is held, downloads it as JSON
(the file is the API's answer), erases it after a confirmation naming the tickets and reads the
result; the address is then forgotten (a search by it finds nothing) and a search by ticket id
shows the details erased; erasing again says so. The person on their ticket page sees which kinds
of data are held, deletes them after a confirmation and keeps their place; the admin then finds
the ticket erased. Only admins are offered the section. Each view passes axe.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from playwright.async_api import Locator, Page, expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Tenant
from tests.browser.test_admin import go, sign_in, snap


def person(tag: str) -> dict[str, str]:
    marker = uuid.uuid4().hex[:8]
    return {
        "name": f"Ana Quintero {marker}",
        "phone": "+34 600 11 22 33",
        "email": f"{tag}.{marker}@example.org",
        "note": "Needs a chair",
    }


async def export(tenant: Tenant, body: dict[str, str]) -> dict[str, Any]:
    answer = await tenant.stack.http.post(
        "/v1/personal-data/export", json=body, headers=tenant.auth("admin")
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def search(page: Page, kind: str, value: str) -> dict[str, Any]:
    """Fill the section's form and Find; the body the page sent (never in the URL)."""
    form = page.locator("#privacy-search")
    await form.get_by_label("Find the person by").select_option(kind)
    label = {"email": "E-mail address", "phone": "Phone number", "ticket_id": "Ticket id"}[kind]
    await form.get_by_label(label, exact=True).fill(value)
    async with page.expect_request(lambda r: r.url.endswith("/v1/personal-data/export")) as sent:
        await form.get_by_role("button", name="Find").click()
    request = await sent.value
    assert request.method == "POST"
    assert value not in request.url
    return dict(json.loads(request.post_data or "{}"))


def ticket_panel(page: Page, ticket_id: str) -> Locator:
    return page.locator(f'#privacy-out article[data-ticket-id="{ticket_id}"]')


async def test_an_admin_finds_downloads_and_erases_a_person(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Privacy clinic")
    queue_id = await tenant.create_queue(name="Front desk")
    ana = person("ana")
    notify = [{"channel": "email", "address": ana["email"]}]
    first = (await tenant.enqueue(queue_id, contact=ana, notify=notify))["ticket"]
    second = (await tenant.enqueue(queue_id, contact={"name": ana["name"], "email": ana["email"]}))["ticket"]  # fmt: skip
    stranger = person("bo")
    await tenant.enqueue(queue_id, contact=stranger)
    admin = await tenant.person("admin")

    page = await desktop()
    await sign_in(page, admin)
    await go(page, "privacy")
    form = page.locator("#privacy-search")
    value = form.get_by_label("E-mail address", exact=True)
    await value.fill("ana at example")  # checked before anything is sent
    await form.get_by_role("button", name="Find").click()
    await expect(value).to_have_attribute("aria-invalid", "true")
    await expect(form.locator('[data-field="value"] .field-error')).to_have_text(
        "Enter an e-mail address like name@example.com."
    )
    await expect(value).to_be_focused()
    assert await search(page, "email", f"  {ana['email']} ") == {"email": ana["email"]}
    await expect(value).not_to_have_attribute("aria-invalid", "true")
    out = page.locator("#privacy-out")
    await expect(out.locator(".person-found")).to_have_text("Found: 2 tickets.")
    await expect(out.locator("article")).to_have_count(2)
    one = ticket_panel(page, first["ticket_id"])
    for shown in (ana["name"], ana["phone"], ana["email"], ana["note"]):
        await expect(one).to_contain_text(shown)
    await expect(one.locator("li")).to_have_text(f"E-mail: {ana['email']}")
    two = ticket_panel(page, second["ticket_id"])
    await expect(two).to_contain_text("No notification subscriptions.")
    await expect(out).not_to_contain_text(stranger["name"])
    await check_a11y(page, "admin-privacy-found-desktop")
    await snap(page, shoot, "admin-privacy-desktop")

    # The person's right of access: the file is the API's answer.
    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download (JSON)").click()
    download = await started.value
    assert download.suggested_filename.startswith("personal-data-")
    assert download.suggested_filename.endswith(".json")
    saved = json.loads((await download.path()).read_text(encoding="utf-8"))
    assert saved == await export(tenant, {"email": ana["email"]})
    assert {t["ticket_id"] for t in saved["tickets"]} == {first["ticket_id"], second["ticket_id"]}

    # Erasure asks first, naming how many tickets.
    erase = page.get_by_role("button", name="Erase this person")
    await erase.click()
    question = page.locator("#privacy-out .confirm-question")
    await expect(question).to_contain_text("on 2 tickets")
    await expect(page.get_by_role("button", name="Confirm")).to_be_focused()
    await check_a11y(page, "admin-privacy-confirm-desktop")
    await page.get_by_role("button", name="Cancel").click()
    await expect(erase).to_be_focused()
    assert (await export(tenant, {"email": ana["email"]}))["tickets"][0]["details"] is not None
    await erase.click()
    async with page.expect_request(lambda r: r.url.endswith("/v1/personal-data/erase")) as sent:
        await page.get_by_role("button", name="Confirm").click()
    assert json.loads((await sent.value).post_data or "{}") == {"email": ana["email"]}
    message = page.locator("#privacy .section-message")
    await expect(message).to_contain_text("Erased: 2 tickets, 1 subscription removed.")
    await expect(message).to_be_focused()
    await check_a11y(page, "admin-privacy-erased-desktop")

    # The address went with the keys: a search by it finds nothing; by ticket id, the erasure.
    await search(page, "email", ana["email"])
    await expect(out).to_have_text("Nothing is held about this person: no ticket found.")
    await search(page, "ticket_id", first["ticket_id"])
    await expect(out.locator(".person-found")).to_have_text("Found: 1 ticket.")
    erased = ticket_panel(page, first["ticket_id"])
    await expect(erased).to_contain_text(re.compile(r"Details erased on \S"))
    await expect(erased).to_contain_text("No notification subscriptions.")
    await expect(erased).not_to_contain_text(ana["name"])
    await page.get_by_role("button", name="Erase this person").click()
    await expect(question).to_contain_text("on 1 ticket?")
    await page.get_by_role("button", name="Confirm").click()
    await expect(message).to_contain_text("already erased")
    # The stranger is untouched.
    kept = (await export(tenant, {"email": stranger["email"]}))["tickets"]
    assert kept[0]["details"]["name"] == stranger["name"]
    assert_no_console_errors(page)


async def test_the_person_deletes_their_details_on_the_ticket_page(
    live_stack: LiveStack, phone: OpenPage, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Ticket privacy clinic")
    queue_id = await tenant.create_queue(name="Pharmacy")
    ana = person("ana")
    mine = (await tenant.enqueue(queue_id, contact={"name": ana["name"], "email": ana["email"]}))["ticket"]  # fmt: skip
    plain = (await tenant.enqueue(queue_id, role="kiosk"))["ticket"]

    # A ticket taken without details: nothing to show.
    page = await phone()
    async with page.expect_response(lambda r: r.url.endswith("/personal-data")) as read:
        await page.goto(f"/t/{plain['ticket_id']}#token={plain['token']}")
    assert (await read.value).status == 200
    await expect(page.locator("#position")).to_have_text("2")
    await expect(page.locator("#details")).to_be_hidden()
    assert_no_console_errors(page)

    page = await phone()
    await page.goto(f"/t/{mine['ticket_id']}#token={mine['token']}")
    await expect(page.locator("#position")).to_have_text("1")
    details = page.locator("#details")
    await expect(details).to_be_visible()
    await expect(page.locator("#details-held")).to_have_text(
        "With this ticket we hold your name and your e-mail address."
    )
    await expect(details).not_to_contain_text(ana["email"])  # the kinds, never the values
    ask = page.get_by_role("button", name="Delete my details", exact=True)
    await ask.click()
    await expect(ask).to_have_attribute("aria-expanded", "true")
    await expect(page.get_by_role("button", name="No, keep them")).to_be_focused()
    await check_a11y(page, "ticket-details-confirm-phone")
    await shoot(page, "ticket-details-confirm-phone")
    async with page.expect_request(lambda r: r.url.endswith("/personal-data") and r.method == "DELETE") as sent:  # fmt: skip
        await page.get_by_role("button", name="Yes, delete my details").click()
    assert (await sent.value).headers.get("x-ticket-token") == mine["token"]
    await expect(page.locator("#details-message")).to_have_text(
        "Your details were deleted. Your place in line is kept; you will no longer get messages."
    )
    await expect(page.locator("#details-title")).to_be_focused()
    await expect(ask).to_be_hidden()
    await expect(page.locator("#position")).to_have_text("1")
    await check_a11y(page, "ticket-details-deleted-phone")
    await shoot(page, "ticket-details-deleted-phone")
    assert_no_console_errors(page)

    held = (await export(tenant, {"ticket_id": mine["ticket_id"]}))["tickets"][0]
    assert held["details"] is None and held["details_erased_at"] is not None
    # Reloaded: nothing is held any more, so the area stays away.
    async with page.expect_response(lambda r: r.url.endswith("/personal-data")):
        await page.reload()
    await expect(page.locator("#position")).to_have_text("1")
    await expect(details).to_be_hidden()

    admin = await tenant.person("admin")
    console = await desktop()
    await sign_in(console, admin, "#privacy")
    await expect(console.locator("#privacy-title")).to_be_focused()
    await search(console, "ticket_id", mine["ticket_id"])
    await expect(ticket_panel(console, mine["ticket_id"])).to_contain_text("Details erased on")
    await search(console, "email", ana["email"])
    await expect(console.locator("#privacy-out")).to_contain_text("no ticket found")
    assert_no_console_errors(console)


async def test_only_admins_are_offered_the_section(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Managed privacy clinic")
    await tenant.create_queue(name="Front desk")
    manager = await tenant.person("manager")
    page = await desktop()
    await sign_in(page, manager, "#privacy")  # not a manager's: the first section instead
    await expect(page.locator("#queues")).to_be_visible()
    await expect(page.locator("#privacy")).to_be_hidden()
    await expect(page.locator('#admin-nav li[data-section="privacy"]')).to_be_hidden()
    answer = await tenant.stack.http.post(
        "/v1/personal-data/export", json={"email": "x@example.org"}, headers=tenant.auth("manager")
    )
    assert answer.status_code == 403
    assert_no_console_errors(page)
