"""The page an email's opt-out link opens (notifications_api/routes_optout.py): what it stops,
and a button that stops it. A GET only shows it (mail scanners fetch every link of a message);
the button POSTs, and the answer says it is done. In the subscription's language (its base
language among the pages', else English), from the pages' catalogues (`optout` part).

Server-rendered, with no script: the page holds no credential, only the link it was opened by.
"""

from __future__ import annotations

from functools import partial

from notifications.default_templates import base_language
from web.i18n import LANGUAGES, strings, translate
from web.render import environment


def optout_page(language: str, number: str, queue: str, *, stopped: bool, action: str) -> str:
    """The page's HTML (every value escaped): before the button (`stopped` False) or after."""
    lang = base_language(language, LANGUAGES)
    t = partial(translate, strings(lang, ("optout",)), number=number, queue=queue)
    template = environment().get_template("optout.html")
    return template.render(lang=lang, t=t, stopped=stopped, action=action)
