"""The page an email's opt-out link opens (notifications_api/routes_optout.py): what it stops,
and a button that stops it. A GET only shows it (mail scanners fetch every link of a message);
the button POSTs, and the answer says it is done. In the subscription's language: its base
language among ours, else English.

Server-rendered, with no script: the page holds no credential, only the link it was opened by.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifications.default_templates import base_language
from web.render import environment


@dataclass(frozen=True, slots=True)
class Words:
    title: str
    ask: str  # before: what the button will stop
    button: str
    done: str  # after


WORDS: dict[str, Words] = {
    "en": Words(
        "Stop these messages",
        "You will get no more messages about ticket {number} at {queue}.",
        "Stop the messages",
        "Done: you will get no more messages about ticket {number} at {queue}.",
    ),
    "fr": Words(
        "Ne plus recevoir ces messages",
        "Vous ne recevrez plus de messages sur le ticket {number} à {queue}.",
        "Ne plus recevoir ces messages",
        "C'est fait : vous ne recevrez plus de messages sur le ticket {number} à {queue}.",
    ),
    "de": Words(
        "Diese Nachrichten abbestellen",
        "Sie erhalten keine Nachrichten mehr zur Nummer {number} bei {queue}.",
        "Nachrichten abbestellen",
        "Erledigt: Sie erhalten keine Nachrichten mehr zur Nummer {number} bei {queue}.",
    ),
    "es": Words(
        "Dejar de recibir estos mensajes",
        "No recibirá más mensajes sobre el turno {number} en {queue}.",
        "Dejar de recibir mensajes",
        "Hecho: no recibirá más mensajes sobre el turno {number} en {queue}.",
    ),
}


def optout_page(language: str, number: str, queue: str, *, stopped: bool, action: str) -> str:
    """The page's HTML (every value escaped): before the button (`stopped` False) or after."""
    lang = base_language(language, WORDS)
    chosen = WORDS[lang]
    words = Words(
        chosen.title,
        chosen.ask.format(number=number, queue=queue),
        chosen.button,
        chosen.done.format(number=number, queue=queue),
    )
    template = environment().get_template("optout.html")
    return template.render(lang=lang, words=words, stopped=stopped, action=action)
