"""Every word a page shows comes from a catalogue: `web/locales/<lang>/<part>.json`.

A catalogue is a flat JSON object of dotted keys (`"kiosk.title"`) to text with `{name}`
placeholders. Each page names the parts it uses (`common` always); the template gets `t(key)`,
the page's JavaScript gets the same strings (see base.html). The language is the person's choice
(`?lang=`, remembered in a cookie), else the browser's (`Accept-Language`, by its primary subtag:
fr-CA is fr), else English. The pages speak the languages the messages do
(notifications/templates.py LANGUAGES), so a French SMS opens a French ticket page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files

LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es")
DEFAULT_LANGUAGE = "en"
# What each language calls itself, for the language switcher (not translated on purpose).
LANGUAGE_NAMES: Mapping[str, str] = {
    "en": "English",
    "fr": "Français",
    "de": "Deutsch",
    "es": "Español",
}
LANG_COOKIE = "vq_lang"

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_RANGE = re.compile(r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


@cache
def catalogue(lang: str, part: str) -> Mapping[str, str]:
    """One part of one language's catalogue (read once)."""
    text = files("web").joinpath("locales", lang, f"{part}.json").read_text(encoding="utf-8")
    entries = json.loads(text)
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise ValueError(f"catalogue {lang}/{part}.json must map keys to strings")
    return entries


def parts() -> tuple[str, ...]:
    """The catalogue parts English has (every language has the same; a unit test checks)."""
    folder = files("web").joinpath("locales", DEFAULT_LANGUAGE)
    return tuple(
        sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))
    )


def strings(lang: str, page_parts: Iterable[str]) -> dict[str, str]:
    """The strings of `page_parts` (and `common`) in `lang`."""
    found: dict[str, str] = {}
    for part in ("common", *page_parts):
        found.update(catalogue(lang, part))
    return found


def translate(table: Mapping[str, str], key: str, **values: object) -> str:
    """The text of `key` with its `{placeholders}` filled; the key itself when it is missing
    (visible, and a unit test keeps it from happening)."""
    text = table.get(key, key)
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


def negotiate(chosen: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the person's explicit choice, then their remembered one, then the
    browser's preference order, then English."""
    for candidate in (chosen, cookie):
        if candidate and candidate.lower() in LANGUAGES:
            return candidate.lower()
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "")[:500].split(",")):
        match = _RANGE.match(item)
        if match is None:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        language = match.group(1).lower()
        if weight > 0 and language in LANGUAGES:
            ranked.append((-weight, index, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE
