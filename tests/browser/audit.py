"""What the browser tests record of a page: its accessibility (axe-core) and a screenshot.

axe-core comes from npm (tests/browser/package.json, installed by `make test` with `npm ci
--prefix tests/browser`). It is put into the page by evaluating its source through the DevTools
protocol (`page.evaluate`), which a page's Content-Security-Policy does not govern: the product's
policy stays as strict as it is served (no `bypass_csp`), and anything the page itself runs is
still held to it.

`check_a11y(page, name)` runs the WCAG 2.0 and 2.1 A and AA rules, records every finding under
`name` in .vq/screenshots/a11y.json (path only, never a query or fragment: they carry keys), fails
the test listing every serious or critical one, and returns the moderate and minor ones.
`shoot(page, name)` writes the full page to .vq/screenshots/<name>.png.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from playwright.async_api import Page

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / ".vq" / "screenshots"
A11Y_REPORT = SHOTS / "a11y.json"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = frozenset({"serious", "critical"})
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")

_RUN = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    rule: v.id, impact: v.impact || "minor", help: v.help, help_url: v.helpUrl,
    targets: v.nodes.map((n) => n.target.map(String).join(" ")),
    summary: (v.nodes[0] && v.nodes[0].failureSummary) || ""}));
}"""


@dataclass(frozen=True, slots=True)
class Finding:
    """One axe rule a page breaks, and where (CSS selectors of the elements)."""

    rule: str
    impact: str  # minor, moderate, serious or critical
    help: str
    help_url: str
    targets: list[str]
    summary: str

    def __str__(self) -> str:
        where = ", ".join(self.targets[:8]) + (" ..." if len(self.targets) > 8 else "")
        detail = " ".join(self.summary.split())
        head = f"[{self.impact}] {self.rule}: {self.help} ({self.help_url})"
        return f"{head}\n    at {where}\n    {detail}"


class CheckA11y(Protocol):
    """The `check_a11y` fixture."""

    async def __call__(
        self, page: Page, name: str, *, allow: Iterable[str] = ()
    ) -> list[Finding]: ...


class Shoot(Protocol):
    """The `shoot` fixture."""

    async def __call__(self, page: Page, name: str) -> Path: ...


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r}: lower-case letters, digits, '.', '_' and '-' only")
    return name


@cache
def axe_source() -> str:
    if not AXE.exists():
        raise RuntimeError(
            f"axe-core is not installed ({AXE.relative_to(ROOT)} is missing): "
            "`make test` installs it, or `npm ci --prefix tests/browser`"
        )
    return AXE.read_text(encoding="utf-8")


async def axe_findings(page: Page) -> list[Finding]:
    """Every WCAG 2.0/2.1 A and AA violation on the page as it is now."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_source())
    found: list[dict[str, Any]] = await page.evaluate(_RUN, WCAG_TAGS)
    return [Finding(**f) for f in found]


async def check_a11y(page: Page, name: str, *, allow: Iterable[str] = ()) -> list[Finding]:
    """Record the page's findings under `name`; fail on any serious or critical one (except
    the rule ids in `allow`, recorded all the same); return the moderate and minor ones."""
    __tracebackhide__ = True  # the page's URL may carry a key: not in the failure's locals
    findings = await axe_findings(page)
    record(_checked_name(name), page.url, findings)
    allowed = set(allow)
    blocking = [f for f in findings if f.impact in BLOCKING and f.rule not in allowed]
    listed = "\n".join(str(f) for f in blocking)
    assert not blocking, f"axe: {name} ({_path(page.url)}), serious or critical:\n{listed}"
    return [f for f in findings if f.impact not in BLOCKING]


def record(name: str, url: str, findings: list[Finding]) -> None:
    """Write the page's findings into the run's report (one entry per name, the newest wins)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (SHOTS / ".a11y.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        report: dict[str, Any] = {}
        if A11Y_REPORT.exists():
            try:
                report = json.loads(A11Y_REPORT.read_text(encoding="utf-8"))
            except ValueError:
                report = {}
        report[name] = {
            "path": _path(url),
            "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "findings": [asdict(f) for f in findings],
        }
        text = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        A11Y_REPORT.write_text(text, encoding="utf-8")


async def shoot(page: Page, name: str) -> Path:
    """The whole page (not only the viewport) as .vq/screenshots/<name>.png; its path."""
    path = SHOTS / f"{_checked_name(name)}.png"
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path


def _path(url: str) -> str:
    return urlsplit(url).path
