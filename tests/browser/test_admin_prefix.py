"""The queue form's ticket prefix in a real browser: a prefix that is too long is said, not cut.

The prefix takes 1 to 5 letters or digits (domain/validate.py). A person who types a sixth
character keeps what they typed and, on saving, is told next to the field why it is refused (as
the form tells its other errors); nothing is sent, and nothing is marked before they typed.
"""

from __future__ import annotations

from playwright.async_api import Request, expect

from tests.browser.pages import OpenPage, assert_no_console_errors
from tests.browser.stack import LiveStack
from tests.browser.test_admin import body_of, sign_in

MARKED = "() => Array.from(document.querySelectorAll('#queues [aria-invalid]'), n => n.name || n.tagName)"


async def test_a_six_character_prefix_is_kept_and_refused_with_a_reason(
    live_stack: LiveStack, desktop: OpenPage
) -> None:
    tenant = await live_stack.tenant("Prefix clinic")
    page = await desktop()
    await sign_in(page, await tenant.person("admin"))
    await page.click("#queues-new")
    form = page.locator("#queues form")
    prefix = form.get_by_label("Ticket prefix")
    await expect(prefix).to_be_visible()
    assert await page.evaluate(MARKED) == [], "a field is marked before the person typed"
    await form.get_by_label("Name", exact=True).fill("Passports")
    await prefix.fill("")
    await prefix.press_sequentially("PASSPT")
    await expect(prefix).to_have_value("PASSPT")  # the sixth character is not dropped silently
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method == "POST" else None)
    await form.get_by_role("button", name="Create the queue").click()
    await expect(prefix).to_have_attribute("aria-invalid", "true")
    error = form.locator('[data-field="prefix"] .field-error')
    await expect(error).to_have_text("A ticket prefix has at most 5 characters; this one has 6.")
    await expect(prefix).to_be_focused()
    await expect(form.locator(".form-problem")).to_contain_text("Please check what you entered")
    assert not [r for r in sent if r.url.endswith("/v1/queues")], "the form was sent"

    await prefix.press("Backspace")
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/queues")) as made:  # fmt: skip
        await form.get_by_role("button", name="Create the queue").click()
    assert body_of(await made.value)["prefix"] == "PASSP"
    await expect(page.locator("#queues .section-message")).to_contain_text("Queue Passports created")  # fmt: skip
    assert_no_console_errors(page)
