"""Rendering a page: its template, in the person's language, with the strings its script needs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from web import assets
from web.i18n import LANG_COOKIE, LANGUAGE_NAMES, LANGUAGES, negotiate, strings, translate

LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
AUTO_LANG = "lang_auto"  # vq.js's AUTO
# A page holds no data, but it is the shell a credential runs in: never cached by a proxy, and
# never sent on as a Referer (the fragment is not, but the path of a ticket page is).
PAGE_HEADERS = {"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}


@dataclass(frozen=True, slots=True)
class Page:
    name: str  # also the body's class and the page's catalogue part
    template: str
    parts: tuple[str, ...]  # catalogue parts besides `common`


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = assets.url
    return env


def render(request: Request, page: Page, chosen: str | None, **context: Any) -> HTMLResponse:
    cookie = request.cookies.get(LANG_COOKIE)
    lang = negotiate(chosen, cookie, request.headers.get("accept-language"))
    # `?lang=` with `lang_auto=1`: the page switched itself to the language of the ticket or
    # booking it shows (vq.js switchLanguage), which is not the person's pick to remember.
    automatic = request.query_params.get(AUTO_LANG) == "1"
    # Picked by the person (here, or remembered from an earlier visit), not guessed from the
    # browser: a ticket's page then stays in it rather than switching to the ticket's language.
    picked = any(
        c is not None and c.lower() == lang for c in (None if automatic else chosen, cookie)
    )
    table = strings(lang, page.parts)
    html = (
        environment()
        .get_template(page.template)
        .render(
            t=partial(translate, table),
            lang=lang,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            page=page.name,
            strings=table,
            # The page's script learns the languages from here, not from a list of its own.
            config={
                "page": page.name,
                "lang": lang,
                "lang_picked": picked,
                "languages": list(LANGUAGES),
                **context,
            },
            **context,
        )
    )
    response = HTMLResponse(html, headers=PAGE_HEADERS)
    if chosen is not None and chosen.lower() == lang and not automatic:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=LANG_COOKIE_MAX_AGE_S,
            samesite="lax",
            httponly=True,
            secure=request.url.scheme == "https",
        )
    return response
