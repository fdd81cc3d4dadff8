"""The admin console (/admin) in a real browser against the live stack.

An administrator signs in and, section by section, does what the console is for: creates a queue
with two counters, weekday hours and a capacity (checked over the API, and the body the page
sent), edits it, pauses it; invites a staff member to that queue (at the end deactivated, then
removed for good); makes a kiosk key and gets its ready link (a working key); registers a webhook
endpoint (a private address refused by the outbound guard and said so next to the field, then a
public one), disables it by hand and enables it again; writes and previews a template; downloads
the day's analytics as CSV. Each section passes axe (no serious or critical finding) and is
screenshotted. The header names the organisation. A manager sees only their sections; a Spanish
phone gets the console in Spanish behind a menu button.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from functools import partial
from typing import Any

from playwright.async_api import Page, Request, Route, expect

from tests.browser.audit import CheckA11y, Shoot
from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack, Person, Tenant

# The page's refused requests (a 409 or 422 it shows next to a field) are console errors too.
MAIL_TIMEOUT_MS = 20_000
# The session's access token, made to look almost spent (the dashboard renews it on load).
NEAR_ITS_END = """() => {
  const saved = JSON.parse(localStorage.getItem("vq.session"));
  const access = saved.access;
  saved.expires = Date.now() + 1000;
  localStorage.setItem("vq.session", JSON.stringify(saved));
  return access;
}"""
RENEWED = """() => {
  const saved = JSON.parse(localStorage.getItem("vq.session"));
  return {access: saved.access, left_ms: saved.expires - Date.now()};
}"""
REFUSALS = (r"status of 409", r"status of 422", r"status of 403", r"status of 503 .*/v1/users\?")


async def sign_in(page: Page, person: Person, fragment: str = "") -> None:
    await page.goto(f"/admin?org={person.tenant_id}{fragment}")
    await page.fill("#signin-email", person.email)
    await page.fill("#signin-password", person.password)
    await page.click("#signin-submit")
    await expect(page.locator("#admin-who")).to_be_visible()
    await expect(page.locator("#admin-person")).to_have_text(person.name)


async def snap(page: Page, shoot: Shoot, name: str) -> None:
    """From the top: a full-page shot keeps the scroll position's sticky navigation."""
    await page.evaluate("() => window.scrollTo(0, 0)")
    await shoot(page, name)


async def go(page: Page, section: str) -> None:
    """Through the side navigation; the section's heading gets the focus."""
    await page.click(f'#admin-nav a[data-section="{section}"]')
    await expect(page.locator(f"#{section}")).to_be_visible()
    await expect(page.locator(f"#{section}-title")).to_be_focused()


async def api(tenant: Tenant, path: str) -> Any:
    answer = await tenant.stack.http.get(path, headers=tenant.auth("admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def body_of(request: Request) -> dict[str, Any]:
    return dict(json.loads(request.post_data or "{}"))


async def create_queue(page: Page, tenant: Tenant, check_a11y: CheckA11y, shoot: Shoot) -> str:
    await page.click("#queues-new")
    form = page.locator("#queues form")
    await form.get_by_label("Name", exact=True).fill("Vaccination")
    await form.get_by_label("Ticket prefix").fill("V")
    await form.get_by_label("Counters").fill("1, 2")
    await form.get_by_label("Services").fill("First dose, Booster")
    await form.get_by_label("Time zone").fill("Europe/Madrid")
    await form.get_by_label("Capacity").fill("40")
    await form.get_by_label("Site", exact=True).fill("Madrid Centro")
    await form.get_by_role("button", name="Add hours on Monday").click()
    await form.get_by_role("button", name="Copy Monday to Tuesday").click()
    await expect(form.locator(".hours-summary")).to_have_text("5 opening periods a week.")
    await check_a11y(page, "admin-queues-form-desktop")
    await snap(page, shoot, "admin-queues-desktop")
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/queues")) as sent:  # fmt: skip
        await form.get_by_role("button", name="Create the queue").click()
    body = body_of(await sent.value)
    assert body["opening_hours"] == [
        {"weekday": day, "opens": "09:00", "closes": "17:00"} for day in range(5)
    ]
    await expect(page.locator("#queues .section-message")).to_contain_text("Queue Vaccination created")  # fmt: skip
    row = page.locator("#queues tr", has_text="Vaccination")
    queue_id = await row.get_attribute("data-queue-id")
    assert queue_id
    view = await api(tenant, f"/v1/queues/{queue_id}")
    assert (view["counters"], view["capacity"], view["prefix"]) == (["1", "2"], 40, "V")
    assert (view["service_types"], view["timezone"]) == (["First dose", "Booster"], "Europe/Madrid")  # fmt: skip
    assert view["site"] == "Madrid Centro"
    return queue_id


async def edit_queue(page: Page, tenant: Tenant, queue_id: str) -> None:
    row = page.locator(f'#queues tr[data-queue-id="{queue_id}"]')
    await row.locator('[data-action="edit"]').click()
    form = page.locator("#queues form")
    await expect(form.get_by_label("Capacity")).to_have_value("40")
    # A refusal the API explains next to its field (an unknown time zone is a 422 there).
    await form.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    await expect(form.locator(".form-problem")).to_contain_text("Please check what you entered")
    await form.get_by_label("Time zone").fill("Europe/Madrid")
    await form.get_by_label("Capacity").fill("60")
    await form.get_by_label("Calling at a busy counter").select_option("close_previous")
    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await form.get_by_role("button", name="Save").click()
    assert body_of(await sent.value) == {"capacity": 60, "busy_counter_policy": "close_previous"}
    await expect(page.locator("#queues .section-message")).to_contain_text("Settings of Vaccination saved")  # fmt: skip
    await expect(row.locator("td").nth(4)).to_have_text("60")
    await row.locator('[data-action="pause"]').click()
    await expect(row.locator(".status")).to_have_text("Paused")
    assert (await api(tenant, f"/v1/queues/{queue_id}"))["status"] == "paused"


async def move_line(page: Page, tenant: Tenant, queue_id: str, check_a11y: CheckA11y) -> None:
    """Everyone waiting in Vaccination moves to the front desk (a merge), which stays open."""
    row = page.locator(f'#queues tr[data-queue-id="{queue_id}"]')
    await row.locator('[data-action="move"]').click()
    form = page.locator("#queues form")
    await form.get_by_label("To the queue").select_option(label="Front desk")
    await expect(form.get_by_label("First dose")).not_to_be_checked()
    await form.get_by_label("Close Vaccination to newcomers").uncheck()
    await check_a11y(page, "admin-queues-move-desktop")
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/merge")) as sent:  # fmt: skip
        await form.get_by_role("button", name="Move them").click()
    assert body_of(await sent.value)["close"] is False
    await expect(page.locator("#queues .section-message")).to_contain_text("People moved from Vaccination to Front desk: 1")  # fmt: skip
    await expect(row.locator('[data-action="move"]')).to_have_count(0)  # nobody waits there now
    front = page.locator("#queues tr", has_text="Front desk")
    await expect(front.locator("td").nth(2)).to_have_text("1")
    assert (await api(tenant, f"/v1/queues/{queue_id}"))["status"] == "paused"


async def send_home(page: Page, tenant: Tenant) -> None:
    """Front desk's day ends with one person still waiting: sent home, and the queue closed."""
    front = page.locator("#queues tr", has_text="Front desk")
    queue_id = await front.get_attribute("data-queue-id")
    await front.locator('[data-action="send-home"]').click()
    question = "Cancel the 1 person waiting in Front desk and close it?"
    await expect(front.locator(".confirm-question")).to_contain_text(question)
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/close")) as sent:  # fmt: skip
        await front.get_by_role("button", name="Confirm").click()
    assert body_of(await sent.value) == {"cancel_waiting": True}
    await expect(page.locator("#queues .section-message")).to_contain_text("Front desk is closed; 1 person waiting was sent home.")  # fmt: skip
    await expect(front.locator(".status")).to_have_text("Closed")
    await expect(front.locator("td").nth(2)).to_have_text("0")
    await expect(front.locator('[data-action="send-home"]')).to_have_count(0)
    view = await api(tenant, f"/v1/queues/{queue_id}")
    assert (view["status"], view["waiting"]) == ("closed", 0)


async def copy_queue(page: Page, tenant: Tenant, queue_id: str) -> None:
    """A new queue with Vaccination's settings: the form starts from them."""
    row = page.locator(f'#queues tr[data-queue-id="{queue_id}"]')
    await row.locator('[data-action="copy"]').click()
    form = page.locator("#queues form")
    await expect(form.get_by_label("Name", exact=True)).to_have_value("Vaccination (copy)")
    await expect(form.get_by_label("Capacity")).to_have_value("60")
    await form.get_by_label("Name", exact=True).fill("Booster annex")
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/queues")) as sent:  # fmt: skip
        await form.get_by_role("button", name="Create the queue").click()
    body = body_of(await sent.value)
    assert (body["name"], body["capacity"]) == ("Booster annex", 60)
    assert body["service_types"] == ["First dose", "Booster"]
    await expect(page.locator("#queues tr", has_text="Booster annex")).to_have_count(1)


async def from_a_template(page: Page) -> None:
    """A new queue started from the clinic template: the form holds its settings."""
    await page.click("#queues-new")
    await page.locator("#queues").get_by_label("Start from").select_option("clinic")
    form = page.locator("#queues form")
    await expect(form.get_by_label("Name", exact=True)).to_have_value("Clinic reception")
    await expect(form.get_by_label("Counters")).to_have_value("1, 2, 3")
    await expect(form.get_by_label("Time zone")).to_have_value("Europe/Paris")
    await form.get_by_role("button", name="Cancel").click()


async def invite_staff(page: Page, tenant: Tenant, queue_id: str) -> None:
    await page.click("#people-invite")
    form = page.locator("#people form")
    await form.get_by_label("Name", exact=True).fill("Noor Haddad")
    await form.get_by_label("Email", exact=True).fill("noor@clinic.example")
    await form.get_by_label("Role").select_option("staff")
    await form.get_by_label("Vaccination").check()
    await form.get_by_role("button", name="Send the invitation").click()
    message = page.locator("#people .section-message")
    # The invitation is emailed before the answer (through the outlet): seconds, at first.
    await expect(message).to_contain_text("noor@clinic.example", timeout=MAIL_TIMEOUT_MS)
    await expect(message.locator("input")).to_have_value(f"{tenant.stack.url}/staff?org={tenant.tenant_id}")  # fmt: skip
    users = (await api(tenant, "/v1/users"))["users"]
    noor = next(u for u in users if u["email"] == "noor@clinic.example")
    assert (noor["role"], noor["queues"], noor["active"]) == ("staff", [queue_id], True)
    row = page.locator('#people tr[data-email="noor@clinic.example"]')
    await expect(row).to_contain_text("Invited")
    await row.locator('[data-action="edit"]').click()
    await page.locator("#people form").get_by_label("Role").select_option("manager")
    await page.locator("#people form").get_by_role("button", name="Save").click()
    await expect(row).to_contain_text("Manager")


async def _busy(route: Route) -> None:
    await route.fulfill(
        status=503,
        headers={"Retry-After": "1", "Content-Type": "application/problem+json"},
        body='{"type": "about:blank", "title": "busy", "status": 503}',
    )


async def deactivate_and_remove(page: Page, tenant: Tenant, check_a11y: CheckA11y) -> None:
    """Deactivating keeps the person (PATCH active false); removing, once confirmed, erases them."""
    row = page.locator('#people tr[data-email="noor@clinic.example"]')
    await row.locator('[data-action="deactivate"]').click()
    # The list read again meanwhile, and refused (a busy moment): the question stays asked.
    await page.route("**/v1/users?*", _busy, times=1)
    async with page.expect_response(lambda r: "/v1/users?" in r.url) as refused:
        await go(page, "people")  # shown again: read again
    assert (await refused.value).status == 503
    await page.wait_for_timeout(500)  # the page has taken the refusal in
    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await row.get_by_role("button", name="Confirm").click()
    assert body_of(await sent.value) == {"active": False}
    await expect(row).to_contain_text("Deactivated")
    await row.locator('[data-action="remove"]').click()
    await expect(row.locator(".confirm-question")).to_contain_text("cannot be undone")
    await check_a11y(page, "admin-people-remove-desktop")
    async with page.expect_request(lambda r: r.method == "DELETE") as sent:
        await row.get_by_role("button", name="Confirm").click()
    assert "/v1/users/" in (await sent.value).url
    await expect(page.locator("#people .section-message")).to_contain_text("Noor Haddad was removed")  # fmt: skip
    await expect(row).to_have_count(0)
    users = (await api(tenant, "/v1/users"))["users"]
    assert "noor@clinic.example" not in [u["email"] for u in users]


async def kiosk_key(page: Page, tenant: Tenant) -> None:
    await page.click("#keys-new")
    form = page.locator("#keys form")
    await form.get_by_label("Name", exact=True).fill("Entrance kiosk")
    await form.get_by_label("Role", exact=True).select_option("kiosk")
    await form.get_by_role("button", name="Create the key").click()
    secret = await page.locator("#keys .key-secret input").input_value()
    assert secret.startswith("vq_")
    link = page.locator("#keys .key-link input")
    await expect(link).to_have_value(f"{tenant.stack.url}/kiosk#key={secret}")
    answer = await tenant.stack.http.get("/v1/queues", headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
    assert answer.status_code == 200
    await expect(page.locator("#keys tr", has_text="Entrance kiosk")).to_contain_text("Kiosk")


async def webhook(page: Page, tenant: Tenant, admin_id: str) -> None:
    await page.click("#webhooks-new")
    form = page.locator("#webhooks form")
    url = form.get_by_label("URL")
    await url.fill("http://10.1.2.3/hooks")
    await form.get_by_label("TicketCalled").check()
    await form.get_by_role("button", name="Create the endpoint").click()
    await expect(url).to_have_attribute("aria-invalid", "true")
    await expect(form.locator(".form-problem")).to_contain_text("That is not possible")
    await expect(form.locator('[data-field="url"] .field-error')).to_contain_text("not a public address")  # fmt: skip
    await url.fill("https://hooks.clinic.example/vq")
    await form.get_by_role("button", name="Create the endpoint").click()
    secret = await page.locator("#webhooks .webhook-secret input").input_value()
    assert secret.startswith("whsec_")
    endpoints = (await api(tenant, "/v1/webhooks/endpoints"))["endpoints"]
    assert [(e["url"], e["event_types"]) for e in endpoints] == [
        ("https://hooks.clinic.example/vq", ["TicketCalled"])
    ]
    row = page.locator("#webhooks tr", has_text="hooks.clinic.example")
    await row.locator('[data-action="disable"]').click()
    await row.get_by_role("button", name="Confirm").click()
    await expect(page.locator("#webhooks .section-message")).to_contain_text("is disabled")
    await expect(row).to_contain_text("disabled by you")
    disabled = (await api(tenant, "/v1/webhooks/endpoints"))["endpoints"][0]
    assert disabled["disabled_reason"] == f"disabled by user:{admin_id}"
    await row.locator('[data-action="enable"]').click()
    await expect(row.locator('[data-action="disable"]')).to_be_visible()
    assert (await api(tenant, "/v1/webhooks/endpoints"))["endpoints"][0]["disabled_at"] is None
    await row.locator('[data-action="log"]').click()
    await expect(page.locator("#webhooks .webhook-panel h3")).to_contain_text("Delivery log")


async def template(page: Page, tenant: Tenant) -> None:
    await page.click("#templates-new")
    form = page.locator("#templates form")
    await form.get_by_label("Message", exact=True).select_option("called")
    await form.get_by_label("Channel").select_option("sms")
    await form.get_by_label("Language").select_option("en")
    text = form.get_by_label("Text", exact=True)
    await text.fill("Ticket {{ nope }}")
    await form.get_by_role("button", name="Preview").click()
    await expect(text).to_have_attribute("aria-invalid", "true")
    await text.fill("Ticket {{ number }}: please come to counter {{ counter }}.")
    await form.get_by_role("button", name="Preview").click()
    await expect(form.locator(".preview-text")).to_contain_text("please come to counter")
    await form.get_by_role("button", name="Save").click()
    await expect(page.locator("#templates tr", has_text="Called to a counter")).to_be_visible()
    stored = (await api(tenant, "/v1/templates"))["templates"]
    assert [(x["topic"], x["channel"], x["body"]) for x in stored] == [
        ("called", "sms", "Ticket {{ number }}: please come to counter {{ counter }}.")
    ]


async def analytics_csv(page: Page) -> None:
    await expect(page.locator("#analytics .figures")).to_be_visible()
    async with page.expect_download() as started:
        await page.click("#analytics-csv")
    download = await started.value
    assert download.suggested_filename.endswith(".csv")
    path = await download.path()
    assert path.read_text().startswith("start,end,arrivals,called,served")
    # VQ.download's link (no text) stays in the page for a second after the click.
    await expect(page.locator("a[download]")).to_have_count(0)
    await expect(page.locator("#analytics-dashboard")).to_have_attribute("href", "/dashboard")


async def forms_pass_axe(page: Page, check_a11y: CheckA11y) -> None:
    """Each section's form, open (the lists were checked as they were left)."""
    for section, opener in (
        ("people", "#people-invite"),
        ("keys", "#keys-new"),
        ("webhooks", "#webhooks-new"),
        ("templates", "#templates-new"),
    ):
        await go(page, section)
        await page.click(opener)
        form = page.locator(f"#{section} .editor-slot form")
        await expect(form).to_be_visible()
        await check_a11y(page, f"admin-{section}-form-desktop")
        await form.get_by_role("button", name="Cancel").click()
        await expect(form).to_have_count(0)


async def test_an_admin_runs_every_section(
    live_stack: LiveStack, desktop: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Admin clinic")
    admin = await tenant.person("admin")
    await tenant.create_queue(name="Front desk")
    page = await desktop()
    await sign_in(page, admin)
    await expect(page.locator("#queues-title")).to_be_focused()
    await expect(page.locator("#admin-org")).to_contain_text(tenant.tenant_id)
    await expect(page.locator("#admin-org .admin-org-name")).to_have_text(tenant.name)
    queue_id = await create_queue(page, tenant, check_a11y, shoot)
    await tenant.enqueue(queue_id, allow_outside_hours=True)  # the analytics have a row
    await edit_queue(page, tenant, queue_id)
    await check_a11y(page, "admin-queues-list-desktop")
    await move_line(page, tenant, queue_id, check_a11y)
    await send_home(page, tenant)
    await copy_queue(page, tenant, queue_id)
    await from_a_template(page)

    for section, step in (
        ("people", partial(invite_staff, page, tenant, queue_id)),
        ("keys", partial(kiosk_key, page, tenant)),
        ("webhooks", partial(webhook, page, tenant, admin.user_id)),
        ("templates", partial(template, page, tenant)),
        ("analytics", partial(analytics_csv, page)),
    ):
        await go(page, section)
        await step()
        await check_a11y(page, f"admin-{section}-desktop")
        await snap(page, shoot, f"admin-{section}-desktop")
    await go(page, "people")
    await deactivate_and_remove(page, tenant, check_a11y)
    await forms_pass_axe(page, check_a11y)
    assert_no_console_errors(page, *REFUSALS)


async def test_a_manager_sees_only_their_sections_and_a_refusal_is_explained(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Managed clinic")
    mine = await tenant.create_queue(name="Mine")
    other = await tenant.create_queue(name="Other")
    manager = await tenant.person("manager")
    page = await desktop()
    await sign_in(page, manager, "#templates")  # a deep link, through the sign-in
    await expect(page.locator("#templates-title")).to_be_focused()
    shown = await page.locator("#admin-nav li:not([hidden]) a").all_inner_texts()
    assert shown == ["Queues", "Notification templates", "Analytics"]
    await page.goto("/admin#keys")  # not a manager's: the first section instead
    await expect(page.locator("#queues")).to_be_visible()
    await expect(page.locator("#keys")).to_be_hidden()

    # Staff serving one queue may run that queue's day only: the other one's pause is refused.
    staff = await tenant.person("staff", queues=(mine,))
    await page.click(".signin-signout")
    await expect(page.locator("#signin")).to_be_visible()
    await sign_in(page, staff)
    row = page.locator(f'#queues tr[data-queue-id="{other}"]')
    await expect(row.locator('[data-action="edit"]')).to_have_count(0)
    await row.locator('[data-action="pause"]').click()
    await expect(page.locator("#queues .section-message")).to_contain_text("Your role is not allowed")  # fmt: skip
    assert_no_console_errors(page, *REFUSALS)


async def test_spanish_on_a_phone(
    live_stack: LiveStack, phone: OpenPage, check_a11y: CheckA11y, shoot: Shoot
) -> None:
    tenant = await live_stack.tenant("Clínica")
    await tenant.create_queue(name="Recepción")
    admin = await tenant.person("admin", language="es")
    page = await phone(locale="es")
    await page.goto(f"/admin?org={admin.tenant_id}")
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await page.fill("#signin-email", admin.email)
    await page.fill("#signin-password", admin.password)
    await page.click("#signin-submit")
    await expect(page.locator("#queues-title")).to_have_text("Filas")
    await expect(page.locator("#queues tr", has_text="Recepción")).to_contain_text("Abierta")
    menu = page.locator("#admin-menu")
    await expect(menu).to_be_visible()
    await expect(page.locator("#admin-nav")).to_be_hidden()
    await menu.click()
    await expect(menu).to_have_attribute("aria-expanded", "true")
    await page.get_by_role("link", name="Personas").click()
    await expect(page.locator("#people-title")).to_be_focused()
    await expect(page.locator("#admin-nav")).to_be_hidden()
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px screen"
    await check_a11y(page, "admin-phone")
    await snap(page, shoot, "admin-phone")
    await menu.click()
    await page.get_by_role("link", name="Filas").click()
    await page.click("#queues-new")
    await page.locator("#queues form").get_by_role("button", name="Añadir horario el lunes").click()
    await check_a11y(page, "admin-queues-form-phone")
    await snap(page, shoot, "admin-queues-form-phone")
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the queue form is {width} px wide on a 360 px screen"
    assert_no_console_errors(page)


async def dashboard_shell(page: Page, tenant: Tenant) -> None:
    """/dashboard answers its page only with ?access_token= today (query_api/pages.py): the
    test fetches it so, and hands it to the browser at /dashboard with its headers (its CSP),
    so what is tested is the page's own handling of a fragment key and of a session. Once the
    route serves its page to anyone (it holds no data), the browser gets it from the API."""
    if (await tenant.stack.http.get("/dashboard")).status_code == 200:
        return
    shell = await tenant.stack.http.get("/dashboard", params={"access_token": tenant.keys["viewer"]})  # fmt: skip
    assert shell.status_code == 200, shell.text
    kept = ("content-type", "content-security-policy", "cache-control", "referrer-policy")
    headers = {k: v for k, v in shell.headers.items() if k.lower() in kept}

    async def serve(route: Route) -> None:
        await route.fulfill(status=200, headers=headers, body=shell.text)

    await page.route("**/dashboard", serve)


async def test_the_dashboard_takes_a_key_from_the_fragment_or_a_session(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    """Never in the query: `#key=` (kept by the browser, off the address bar) or the session
    of a person signed in to the admin console (renewed when near its end)."""
    tenant = await live_stack.tenant("Dashboard clinic")
    await tenant.create_queue(name="Lab")
    page = await desktop()
    await dashboard_shell(page, tenant)
    await page.goto("/dashboard")  # neither: it says where to get one
    await expect(page.locator("#fatal")).to_contain_text("needs a sign-in or a key")
    await expect(page.locator("#fatal a")).to_have_attribute("href", "/admin#analytics")
    await page.goto("about:blank")  # (a new document: only the fragment would differ)
    await page.goto(f"/dashboard#key={tenant.keys['manager']}")
    await expect(page.locator("#queue")).to_contain_text("Lab")
    await expect(page.locator("#live")).to_have_class("on")
    assert "key=" not in page.url
    await page.goto("/dashboard")  # the key was kept
    await expect(page.locator("#live")).to_have_class("on")
    assert_no_console_errors(page)

    admin = await tenant.person("admin")
    page = await desktop()
    await dashboard_shell(page, tenant)
    await sign_in(page, admin)
    await go(page, "analytics")
    await page.click("#analytics-dashboard")
    await page.wait_for_url("**/dashboard")
    await expect(page.locator("#queue")).to_contain_text("Lab")
    await expect(page.locator("#live")).to_have_class("on")
    before = await page.evaluate(NEAR_ITS_END)
    await page.reload()
    await expect(page.locator("#live")).to_have_class("on")
    after = await page.evaluate(RENEWED)
    assert after["access"] != before and after["left_ms"] > 60_000, "the session was not renewed"
    assert_no_console_errors(page)


async def test_analytics_opens_on_the_apis_day(live_stack: LiveStack, desktop: OpenPage) -> None:
    """A browser whose clock is two days behind (or a demo's API clock on a later day): the
    Analytics' day is the API's today, and it may be chosen."""
    tenant = await live_stack.tenant("Clock analytics")
    await tenant.create_queue(name="Desk", counters=["1"])
    now = await live_stack.clock()
    page = await desktop(timezone_id="UTC")
    await page.clock.install(time=now - timedelta(days=2))
    await sign_in(page, await tenant.person("admin"))
    await go(page, "analytics")
    await expect(page.locator("#analytics .figures")).to_be_visible()
    day = page.locator("#analytics input[name=day]")
    today = now.astimezone(UTC).date().isoformat()
    await expect(day).to_have_value(today)
    await expect(day).to_have_attribute("max", today)
    assert_no_console_errors(page)
