"""Fixtures of the browser tests: the product's pages in Debian's Chromium, driven by Playwright.

The async API of Playwright, because the suite is pytest-asyncio on one session event loop: a test
is `async def`, drives the page and the HTTP API (httpx) in the same coroutine, and can wait on
both at once. (The sync API refuses to run inside a running event loop: not in an async test or
fixture, so not beside the async fixtures and httpx client the suite has.)

* `live_stack` (package: one for all of tests/browser, stopped after its last test): a `vq api`,
  `vq relay` and `vq worker` on their own schema, topics and prefix (stack.py). `live_stack.url`
  is the API's base URL (and its public_url); `await live_stack.tenant(name)` makes an
  organisation with a key of every role (`tenant.keys["kiosk"]`, `tenant.auth("staff")`);
  `await tenant.person("staff")` a person who signs in (`person.email`, `person.password`);
  `await tenant.create_queue(**body)` (returns once the read side has it), `await
  tenant.enqueue(queue_id, role, **body)`, `await tenant.post(path, body, role)`, `await
  tenant.get(path, role, **params)`, `await tenant.read_queue(queue_id, min_version)`. A module
  that needs other settings starts its own: `async with running_stack(stack_env, **settings)`.
* `browser` (package): one headless Chromium.
* `phone` / `desktop`: `page = await phone(locale="es", **context_options)`: a page in a new
  context (phone: 360x740, mobile, touch, scale 2; desktop: 1366x900), relative URLs against the
  live stack; closed at the end of the test. `assert_no_console_errors(page)` (pages.py) fails
  on any console error, CSP violation or uncaught exception the page logged.
* `check_a11y(page, name, allow=())` -> moderate/minor findings (fails on serious/critical);
  `shoot(page, name)` -> .vq/screenshots/<name>.png (audit.py).

Every test here is marked `browser` (`pytest -m browser` runs only them; plain `pytest` too).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.browser import audit
from tests.browser.pages import DESKTOP, PHONE, OpenPage, Screens, launch
from tests.browser.stack import LiveStack, running_stack

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
async def live_stack(stack_env: dict[str, str]) -> AsyncIterator[LiveStack]:
    started = time.monotonic()
    async with running_stack(stack_env) as stack:
        print(f"\nlive stack up in {time.monotonic() - started:.1f} s at {stack.url}")
        yield stack


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    playwright = await async_playwright().start()
    try:
        chromium = await launch(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()
    finally:
        await playwright.stop()


@pytest.fixture
async def phone(browser: Browser, live_stack: LiveStack) -> AsyncIterator[OpenPage]:
    screens = Screens(browser, live_stack.url, PHONE)
    yield screens
    await screens.close()


@pytest.fixture
async def desktop(browser: Browser, live_stack: LiveStack) -> AsyncIterator[OpenPage]:
    screens = Screens(browser, live_stack.url, DESKTOP)
    yield screens
    await screens.close()


@pytest.fixture
def check_a11y() -> audit.CheckA11y:
    return audit.check_a11y


@pytest.fixture
def shoot() -> audit.Shoot:
    return audit.shoot
