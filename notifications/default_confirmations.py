"""Our words for the confirmation a person gets as they subscribe (notifications/confirmation.py).

Data, shaped like `default_templates.TICKET` (and merged with it in templates.py). The short text
says where the ticket stands, "A-006: you're in line at Passports, 2 ahead, about 8 min.", with
only what is known (a ticket the read side has not seen yet has no place: none is made up); for a
booking not checked in, its date and time as its reminder says them. SMS and WhatsApp add how to
stop (`REPLY_STOP`: carriers expect an opt-in confirmation to say it; the words a reply may be are
notifications/optout.py's); push does not (the browser stops it). The email is the short text,
the ticket's link and the signature, then the opt-out link every email carries (channels/email.py).

No ticket link in the short text: with the STOP sentence, a 20-character queue name and the
longest place and wait, the link's 95 characters would not fit one SMS of the GSM 7-bit alphabet
(tests/unit/notifications/test_sms_length.py). The person has the page they subscribed from, or
the ticket's QR code, and the next message carries the link.
"""

from __future__ import annotations

from notifications.default_templates import Wording

# The topics whose SMS and WhatsApp words end with how to stop them, and those words.
STOPPABLE: frozenset[str] = frozenset({"subscribed"})
REPLY_CHANNELS: frozenset[str] = frozenset({"sms", "whatsapp"})
REPLY_STOP: dict[str, str] = {
    "en": " Reply STOP to stop.",
    "fr": " Répondez STOP pour vous désabonner.",
    "de": " Antworten Sie STOP zum Abmelden.",
    "es": " Responda STOP para darse de baja.",
}


def _said(in_line: str, booked: str, otherwise: str) -> str:
    """A ticket's words (`number` known), else a booking's (`slot_time`), else the queue's."""
    return (
        f"{{% if number %}}{in_line}{{% elif slot_time %}}{booked}"
        f"{{% else %}}{otherwise}{{% endif %}}"
    )


def _place(next_: str, ahead: str, wait: str) -> str:
    """The place, then the wait, each after a comma when known."""
    return (
        f"{{% if people_ahead == 0 %}}, {next_}{{% elif people_ahead %}}, {ahead}{{% endif %}}"
        f"{{% if minutes %}}, {wait}{{% endif %}}"
    )


SUBSCRIBED: dict[str, Wording] = {
    "en": Wording(
        _said(
            "{{ number }}: you're in line at {{ queue_name }}",
            "Your booking at {{ queue_name }}",
            "Messages from {{ queue_name }}",
        ),
        _said(
            "{{ number }}: you're in line at {{ queue_name }}"
            + _place("you're next", "{{ people_ahead }} ahead", "about {{ minutes }} min")
            + ".",
            "Booked: {{ queue_name }}, {{ slot_date }} at {{ slot_time }}.",
            "You'll get messages from {{ queue_name }}.",
        ),
    ),
    "fr": Wording(
        _said(
            "{{ number }} : vous êtes dans la file à {{ queue_name }}",
            "Votre rendez-vous à {{ queue_name }}",
            "Messages de {{ queue_name }}",
        ),
        _said(
            "{{ number }} : dans la file à {{ queue_name }}"
            + _place(
                "c'est presque à vous", "{{ people_ahead }} avant vous", "env. {{ minutes }} min"
            )
            + ".",
            "RDV : {{ queue_name }}, {{ slot_date }} à {{ slot_time }}.",
            "Vous recevrez les messages de {{ queue_name }}.",
        ),
    ),
    "de": Wording(
        _said(
            "{{ number }}: Sie sind in der Warteschlange bei {{ queue_name }}",
            "Ihr Termin bei {{ queue_name }}",
            "Nachrichten von {{ queue_name }}",
        ),
        _said(
            "{{ number }}: angemeldet bei {{ queue_name }}"
            + _place("als Nächstes", "{{ people_ahead }} vor Ihnen", "ca. {{ minutes }} Min")
            + ".",
            "Termin {{ queue_name }}: {{ slot_date }}, {{ slot_time }} Uhr.",
            "Sie erhalten Nachrichten von {{ queue_name }}.",
        ),
    ),
    "es": Wording(
        _said(
            "{{ number }}: está en la fila de {{ queue_name }}",
            "Su cita en {{ queue_name }}",
            "Mensajes de {{ queue_name }}",
        ),
        _said(
            "{{ number }}: en la fila de {{ queue_name }}"
            + _place("es el siguiente", "{{ people_ahead }} delante", "unos {{ minutes }} min")
            + ".",
            "Cita: {{ queue_name }}, {{ slot_date }}, {{ slot_time }}.",
            "Le avisaremos desde {{ queue_name }}.",
        ),
    ),
}

CONFIRMATIONS: dict[str, dict[str, Wording]] = {"subscribed": SUBSCRIBED}
