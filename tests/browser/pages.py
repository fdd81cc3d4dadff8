"""Debian's Chromium driven by Playwright (async API), pages at phone and desktop size, and what
each page logs as an error.

The browser is /usr/bin/chromium (apt package `chromium`; `make test` installs it), never one
Playwright downloads. It runs headless without a sandbox (the tests run as root) and without the
background services that would reach Google from a test machine.

Every page opened here is watched from its first request: console messages of type error (a
Content-Security-Policy violation, a failed load, `console.error`) and uncaught exceptions
(`pageerror`) are kept; `console_errors(page)` lists them and `assert_no_console_errors(page)`
fails the test with the list.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}}
# How long a Playwright action or `expect` waits by default (ms): a live update must show in 2 s,
# so a test asks for that itself; this bounds the rest.
DEFAULT_TIMEOUT_MS = 10_000

_ERRORS: WeakKeyDictionary[Page, list[str]] = WeakKeyDictionary()
# A key or token in a URL the product's older pages still take (?access_token=) or a page's
# fragment (#key=): never printed in a failure.
_SECRET = re.compile(r"\b((?:access_token|key|token)=)[^&#\s\"']+")


def redact(text: str) -> str:
    return _SECRET.sub(r"\1…", text)


def chromium() -> str:
    if not CHROMIUM.exists():
        raise RuntimeError(
            f"the browser tests drive Debian's Chromium at {CHROMIUM}: `make test` installs it "
            "(apt-get install chromium); Playwright's own browsers are never downloaded"
        )
    return str(CHROMIUM)


async def launch(playwright: Playwright) -> Browser:
    return await playwright.chromium.launch(
        executable_path=chromium(), headless=True, args=CHROMIUM_ARGS
    )


class OpenPage(Protocol):
    """The `phone` and `desktop` fixtures: a new page in a new context (its own storage,
    cookies, service workers), with relative URLs resolved against the live stack."""

    async def __call__(self, locale: str = "en", **options: Any) -> Page: ...


class Screens:
    """Opens pages in fresh contexts of one browser; `close()` closes them all (end of test)."""

    def __init__(self, browser: Browser, base_url: str, size: dict[str, Any]) -> None:
        self.browser, self.base_url, self.size = browser, base_url, size
        self.contexts: list[BrowserContext] = []

    async def __call__(self, locale: str = "en", **options: Any) -> Page:
        """A page whose browser speaks `locale` (navigator.language, Accept-Language);
        `options` go to Browser.new_context (e.g. timezone_id, color_scheme, reduced_motion)."""
        context = await self.browser.new_context(
            **{**self.size, "base_url": self.base_url, "locale": locale, **options}
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        context.on("page", watch)
        self.contexts.append(context)
        page = await context.new_page()
        watch(page)
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
        self.contexts.clear()


def watch(page: Page) -> None:
    """Keep what the page logs as an error from now on (once per page)."""
    if page in _ERRORS:
        return
    errors: list[str] = []
    _ERRORS[page] = errors

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            said = f"console error: {message.text}" + (f" ({where})" if where else "")
            errors.append(redact(said))

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(redact(f"uncaught: {error}")))


def console_errors(page: Page) -> list[str]:
    """What the page logged as an error so far (console errors, CSP violations, exceptions)."""
    return list(_ERRORS.get(page, []))


# A read-your-write that the read model did not reach within its wait: the API's documented
# 409 stale-read, which the pages take in their stride (they show what they had, the next push
# brings the rest). The browser logs it as an error; a loaded machine's read side lags that far.
STALE_READ = r"status of 409 \(Conflict\) \([^ ]*[?&]min_version="


def assert_no_console_errors(page: Page, *allowed: str) -> None:
    """Fail listing every error the page logged, except those matching an `allowed` pattern
    (regular expressions, e.g. r"ERR_INTERNET_DISCONNECTED" in an offline test) and a stale
    read (STALE_READ)."""
    __tracebackhide__ = True  # the page's URL may carry a key: not in the failure's locals
    allowed = (*allowed, STALE_READ)
    left = [e for e in console_errors(page) if not any(re.search(p, e) for p in allowed)]
    assert not left, f"{redact(page.url)} logged errors:\n" + "\n".join(left)
