"""Publish the latest screenshots of the browser tests: copy a chosen few from .vq/screenshots/
to docs/screenshots/ (committed) and rewrite the README's gallery between its markers.

    python -m tests.browser.gallery        (after a test run; `make screenshots` does both)
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAKEN = ROOT / ".vq" / "screenshots"
PUBLISHED = ROOT / "docs" / "screenshots"
README = ROOT / "README.md"
START, END = "<!-- screenshots -->", "<!-- /screenshots -->"

# (caption, [(screenshot, width in the README)]), in the order a visitor meets the pages.
GALLERY: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = (
    (
        "Kiosk: pick a queue, take a ticket, print it (portrait kiosk, desktop, 80 mm receipt); a "
        "refusal in Spanish",
        (
            ("kiosk-start-portrait", 180),
            ("kiosk-ticket-desktop", 320),
            ("kiosk-print", 120),
            ("kiosk-refused-es", 200),
        ),
    ),
    (
        "Ticket page on a phone: waiting, called, in Spanish",
        (
            ("ticket-waiting-phone", 200),
            ("ticket-called-phone", 200),
            ("ticket-waiting-phone-es", 200),
        ),
    ),
    (
        "Staff console: sign-in, the console at a counter, on a phone",
        (
            ("staff-signin-desktop", 280),
            ("staff-console-desktop", 420),
            ("staff-console-phone", 180),
        ),
    ),
    (
        "Admin console: queues, API keys, webhooks, analytics, on a phone",
        (
            ("admin-queues-desktop", 300),
            ("admin-keys-desktop", 300),
            ("admin-webhooks-desktop", 300),
            ("admin-analytics-desktop", 300),
            ("admin-phone", 160),
        ),
    ),
    (
        "A queue's TV board; the manager's dashboard, in Spanish",
        (("board-desktop", 420), ("dashboard-desktop-es", 420)),
    ),
    (
        "A staffing plan on the dashboard: made in the background, edited, checked on fresh "
        "simulated days",
        (("dashboard-staffing", 420),),
    ),
    (
        "Lobby display: several queues; a call",
        (("display-desktop", 420), ("display-call-desktop", 420)),
    ),
)


def gallery_markdown() -> str:
    lines = [START]
    for caption, shots in GALLERY:
        lines.append(f"\n**{caption}**\n")
        lines.append(
            " ".join(
                f'<a href="docs/screenshots/{name}.png"><img src="docs/screenshots/{name}.png" '
                f'width="{width}" alt="{name}"></a>'
                for name, width in shots
            )
        )
    lines.append(END)
    return "\n".join(lines)


def publish() -> list[str]:
    """Copy the gallery's screenshots; returns the names missing from the last run."""
    PUBLISHED.mkdir(parents=True, exist_ok=True)
    missing = []
    for _, shots in GALLERY:
        for name, _ in shots:
            source = TAKEN / f"{name}.png"
            if source.exists():
                shutil.copyfile(source, PUBLISHED / source.name)
            else:
                missing.append(name)
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {START} ... {END} block")
    README.write_text(pattern.sub(lambda _: gallery_markdown(), text), encoding="utf-8")
    return missing


if __name__ == "__main__":
    absent = publish()
    if absent:
        print(f"not in {TAKEN} (run the browser tests first): {', '.join(absent)}")
        sys.exit(1)
    print(f"copied to {PUBLISHED.relative_to(ROOT)} and the README's gallery rewritten")
