"""The words a tenant gets before writing its own: what a ticket holder reads, in four languages.

Data, and the one value computed for them (`counter_label`). Each topic has, per language, an
email subject and one short text: the SMS, WhatsApp, push and chat message, and the first
paragraph of the email, which `email_body` follows with the ticket's link and the signature.
Short texts stay within one SMS for a 20-character queue name, a 6-character number and the
ticket's link (tests/unit/notifications/test_sms_length.py): 160 characters of the GSM 7-bit
alphabet. One character outside it (a typographic apostrophe, an en dash, a Spanish "á", "í",
"ó" or "ú", a French "ê", "ô" or "ç") makes the whole SMS UCS-2, 70 characters a part: the
words here avoid them.

Optional values (people ahead, counter, minutes, links) may be None: every use is guarded, and
a None that still reaches the output prints as nothing (the environment's `finalize`).
`wait_range` is left to tenants' own templates: it comes formatted, in one language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple


class Wording(NamedTuple):
    subject: str  # email only
    text: str  # the short message; the email body's first paragraph
    email: str | None = None  # the whole email body, when it is more than text and footer


_AHEAD_EN = (
    "{% if people_ahead == 0 %}you're next{% elif people_ahead == 1 %}1 person ahead"
    "{% elif people_ahead %}{{ people_ahead }} people ahead{% else %}almost your turn{% endif %}"
)
_AHEAD_FR = (
    "{% if people_ahead == 0 %}c'est presque à vous"
    "{% elif people_ahead == 1 %}1 personne avant vous"
    "{% elif people_ahead %}{{ people_ahead }} personnes avant vous"
    "{% else %}votre tour approche{% endif %}"
)
_AHEAD_DE = (
    "{% if people_ahead == 0 %}Sie sind gleich dran"
    "{% elif people_ahead == 1 %}noch 1 Person vor Ihnen"
    "{% elif people_ahead %}noch {{ people_ahead }} Personen vor Ihnen"
    "{% else %}bald sind Sie dran{% endif %}"
)
_AHEAD_ES = (
    "{% if people_ahead == 0 %}es el siguiente"
    "{% elif people_ahead == 1 %}1 persona delante"
    "{% elif people_ahead %}{{ people_ahead }} personas delante"
    "{% else %}su turno se acerca{% endif %}"
)
# Short texts of these topics end with the ticket's link (the email has it in its footer), which
# takes some 95 characters of the SMS: their own words stay within about 65.
LINKED: frozenset[str] = frozenset({"ahead", "eta", "returned", "moved", "missed"})
LINK = "{% if ticket_url %} {{ ticket_url }}{% endif %}"

TICKET: dict[str, dict[str, Wording]] = {
    "ahead": {
        "en": Wording(
            "{{ number }}: almost your turn at {{ queue_name }}",
            "{{ number }}: " + _AHEAD_EN + " at {{ queue_name }}. Please head back.",
        ),
        "fr": Wording(
            "{{ number }} : bientôt votre tour à {{ queue_name }}",
            "{{ number }} : " + _AHEAD_FR + " à {{ queue_name }}. Revenez.",
        ),
        "de": Wording(
            "{{ number }}: bald sind Sie dran bei {{ queue_name }}",
            "{{ number }}: " + _AHEAD_DE + " bei {{ queue_name }}.",
        ),
        "es": Wording(
            "{{ number }}: casi es su turno en {{ queue_name }}",
            "{{ number }}: " + _AHEAD_ES + " en {{ queue_name }}. Vaya volviendo.",
        ),
    },
    "eta": {
        "en": Wording(
            "{{ number }}: you'll be called soon",
            "{{ number }}: {{ queue_name }} calls you {% if minutes %}in about {{ minutes }} min"
            "{% else %}very soon{% endif %}. Head back.",
        ),
        "fr": Wording(
            "{{ number }} : votre tour arrive bientôt",
            "{{ number }} : votre tour à {{ queue_name }}"
            "{% if minutes %} d'ici {{ minutes }} min{% else %} arrive{% endif %}. Revenez.",
        ),
        "de": Wording(
            "{{ number }}: Sie werden bald aufgerufen",
            "{{ number }}: Aufruf bei {{ queue_name }} {% if minutes %}in ca. {{ minutes }} Min."
            "{% else %}in Kürze.{% endif %}",
        ),
        "es": Wording(
            "{{ number }}: pronto será su turno",
            "{{ number }}: su turno en {{ queue_name }} {% if minutes == 1 %}en un minuto"
            "{% elif minutes %}en unos {{ minutes }} min{% else %}muy pronto{% endif %}.",
        ),
    },
    "called": {
        "en": Wording(
            "{{ number }}: it's your turn",
            "{{ number }}, it's your turn: {% if counter_label %}please go to {{ counter_label }}"
            "{% else %}please come to {{ queue_name }} now{% endif %}.",
        ),
        "fr": Wording(
            "{{ number }} : c'est votre tour",
            "{{ number }}, c'est votre tour : {% if counter_label %}{{ counter_label }}"
            "{% else %}présentez-vous maintenant à {{ queue_name }}{% endif %}.",
        ),
        "de": Wording(
            "{{ number }}: Sie sind an der Reihe",
            "{{ number }}, Sie sind an der Reihe: {% if counter_label %}Bitte gehen Sie zu"
            " {{ counter_label }}{% else %}Bitte kommen Sie jetzt zu {{ queue_name }}{% endif %}.",
        ),
        "es": Wording(
            "{{ number }}: es su turno",
            "{{ number }}, es su turno: {% if counter_label %}pase a {{ counter_label }}"
            "{% else %}acérquese ahora a {{ queue_name }}{% endif %}.",
        ),
    },
    "recalled": {
        "en": Wording(
            "{{ number }}: you're being called again",
            "{{ number }}, you're being called again: {% if counter_label %}please go to"
            " {{ counter_label }}{% else %}please come to {{ queue_name }}{% endif %} now.",
        ),
        "fr": Wording(
            "{{ number }} : nouvel appel",
            "{{ number }}, nouvel appel : {% if counter_label %}{{ counter_label }}, dès"
            " maintenant{% else %}présentez-vous à {{ queue_name }} dès maintenant{% endif %}.",
        ),
        "de": Wording(
            "{{ number }}: Sie werden erneut aufgerufen",
            "{{ number }}, Sie werden erneut aufgerufen: {% if counter_label %}Bitte gehen Sie"
            " jetzt zu {{ counter_label }}{% else %}Bitte kommen Sie jetzt zu {{ queue_name }}"
            "{% endif %}.",
        ),
        "es": Wording(
            "{{ number }}: le llamamos de nuevo",
            "{{ number }}, le llamamos de nuevo: {% if counter_label %}pase ahora a"
            " {{ counter_label }}{% else %}acérquese ahora a {{ queue_name }}{% endif %}.",
        ),
    },
    "returned": {
        "en": Wording(
            "{{ number }}: you're back in the queue",
            "{{ number }}: welcome back to {{ queue_name }}{% if people_ahead == 1 %}, 1 person"
            " ahead{% elif people_ahead %}, {{ people_ahead }} people ahead{% endif %}.",
        ),
        "fr": Wording(
            "{{ number }} : vous êtes de retour dans la file",
            "{{ number }} : de retour à {{ queue_name }}{% if people_ahead == 1 %}, 1 personne"
            " avant vous{% elif people_ahead %}, {{ people_ahead }} personnes avant vous"
            "{% endif %}.",
        ),
        "de": Wording(
            "{{ number }}: Sie sind wieder in der Warteschlange",
            "{{ number }}: wieder in der Reihe bei {{ queue_name }}{% if people_ahead %},"
            " {{ people_ahead }} vor Ihnen{% endif %}.",
        ),
        "es": Wording(
            "{{ number }}: vuelve a estar en la fila",
            "{{ number }}: de vuelta en {{ queue_name }}{% if people_ahead == 1 %}, 1 persona"
            " delante{% elif people_ahead %}, {{ people_ahead }} personas delante{% endif %}.",
        ),
    },
    "served": {
        "en": Wording(
            "Thank you for visiting {{ queue_name }}",
            "{{ number }}: thank you for visiting {{ queue_name }}.{% if feedback_url %} How did"
            " it go? Tell us: {{ feedback_url }}{% endif %}",
        ),
        "fr": Wording(
            "Merci de votre visite à {{ queue_name }}",
            "{{ number }} : merci de votre visite à {{ queue_name }}.{% if feedback_url %} Votre"
            " avis nous intéresse : {{ feedback_url }}{% endif %}",
        ),
        "de": Wording(
            "Vielen Dank für Ihren Besuch bei {{ queue_name }}",
            "{{ number }}: Vielen Dank für Ihren Besuch bei {{ queue_name }}."
            "{% if feedback_url %} Wie war es? Sagen Sie es uns: {{ feedback_url }}{% endif %}",
        ),
        "es": Wording(
            "Gracias por su visita a {{ queue_name }}",
            "{{ number }}: gracias por su visita a {{ queue_name }}.{% if feedback_url %} ¿Qué"
            " tal le fue? Cuéntenos: {{ feedback_url }}{% endif %}",
        ),
    },
    "paused": {
        "en": Wording(
            "{{ queue_name }} is paused",
            "{{ number }}: {{ queue_name }} is paused for a moment. You keep your place in line;"
            " we'll let you know when it moves again.",
        ),
        "fr": Wording(
            "{{ queue_name }} est en pause",
            "{{ number }} : {{ queue_name }} est momentanément en pause. Vous gardez votre place ;"
            " nous vous préviendrons dès que la file avancera.",
        ),
        "de": Wording(
            "{{ queue_name }} pausiert",
            "{{ number }}: {{ queue_name }} pausiert kurz. Sie behalten Ihren Platz; wir melden"
            " uns, sobald es weitergeht.",
        ),
        "es": Wording(
            "{{ queue_name }} está en pausa",
            "{{ number }}: {{ queue_name }} hace una breve pausa. Conserva su lugar; le"
            " avisaremos cuando la fila vuelva a avanzar.",
        ),
    },
    "resumed": {
        "en": Wording(
            "{{ queue_name }} is moving again",
            "{{ number }}: {{ queue_name }} is moving again. You still have your place in line.",
        ),
        "fr": Wording(
            "{{ queue_name }} a repris",
            "{{ number }} : {{ queue_name }} a repris. Vous gardez votre place dans la file.",
        ),
        "de": Wording(
            "{{ queue_name }} geht weiter",
            "{{ number }}: {{ queue_name }} geht weiter. Sie behalten Ihren Platz.",
        ),
        "es": Wording(
            "{{ queue_name }} vuelve a avanzar",
            "{{ number }}: {{ queue_name }} vuelve a avanzar. Conserva su lugar en la fila.",
        ),
    },
    "closed": {
        "en": Wording(
            "{{ queue_name }} is closed to new arrivals",
            "{{ number }}: {{ queue_name }} no longer takes new arrivals. Your ticket is still"
            " valid; we'll let you know when it's your turn.",
        ),
        "fr": Wording(
            "{{ queue_name }} n'accepte plus de nouvelles arrivées",
            "{{ number }} : {{ queue_name }} n'accepte plus de nouvelles arrivées. Votre ticket"
            " reste valable ; nous vous préviendrons quand ce sera votre tour.",
        ),
        "de": Wording(
            "{{ queue_name }} nimmt niemanden mehr auf",
            "{{ number }}: {{ queue_name }} nimmt niemanden mehr neu auf. Ihr Ticket bleibt"
            " gültig; wir melden uns, wenn Sie an der Reihe sind.",
        ),
        "es": Wording(
            "{{ queue_name }} ya no admite más llegadas",
            "{{ number }}: {{ queue_name }} ya no admite nuevas llegadas. Su turno sigue"
            " vigente; le avisaremos cuando le toque.",
        ),
    },
    "announcement": {
        "en": Wording(
            "{{ queue_name }}: a message for you",
            "{{ queue_name }}{% if number %} ({{ number }}){% endif %}: {{ text }}",
        ),
        "fr": Wording(
            "{{ queue_name }} : un message pour vous",
            "{{ queue_name }}{% if number %} ({{ number }}){% endif %} : {{ text }}",
        ),
        "de": Wording(
            "{{ queue_name }}: eine Nachricht für Sie",
            "{{ queue_name }}{% if number %} ({{ number }}){% endif %}: {{ text }}",
        ),
        "es": Wording(
            "{{ queue_name }}: un mensaje para usted",
            "{{ queue_name }}{% if number %} ({{ number }}){% endif %}: {{ text }}",
        ),
    },
    "reminder": {
        # The short text ends with the booking's page (where the person checks in or cancels):
        # some 95 characters of the SMS, so its own words stay within about 65. The email is
        # whole: the same words at more length, the page's link, the signature.
        "en": Wording(
            "Reminder: {{ queue_name }} at {{ slot_time }}",
            "Reminder: {{ queue_name }}, {{ slot_date }} at {{ slot_time }}."
            "{% if ticket_url %} Check in:" + LINK + "{% endif %}",
            "Reminder: your appointment at {{ queue_name }} is at {{ slot_time }} on"
            " {{ slot_date }}.\n\n{% if ticket_url %}When you arrive, check in on your booking's"
            " page (or cancel it there if you cannot come): {{ ticket_url }}\n\n{% else %}"
            "Please check in when you arrive.\n\n{% endif %}"
            "{% if tenant_name %}{{ tenant_name }}{% endif %}",
        ),
        "fr": Wording(
            "Rappel : {{ queue_name }} à {{ slot_time }}",
            "Rappel : {{ queue_name }}, {{ slot_date }} à {{ slot_time }}."
            "{% if ticket_url %} Votre RDV :" + LINK + "{% endif %}",
            "Rappel : votre rendez-vous à {{ queue_name }} est à {{ slot_time }} le"
            " {{ slot_date }}.\n\n{% if ticket_url %}À votre arrivée, enregistrez-vous sur la page"
            " de votre rendez-vous (ou annulez-le si vous ne pouvez pas venir) : {{ ticket_url }}"
            "\n\n{% else %}Merci de vous enregistrer à votre arrivée.\n\n{% endif %}"
            "{% if tenant_name %}{{ tenant_name }}{% endif %}",
        ),
        "de": Wording(
            "Erinnerung: {{ queue_name }} um {{ slot_time }}",
            "Termin {{ queue_name }}: {{ slot_date }}, {{ slot_time }} Uhr."
            "{% if ticket_url %} Anmelden:" + LINK + "{% endif %}",
            "Erinnerung: Ihr Termin bei {{ queue_name }} ist am {{ slot_date }} um"
            " {{ slot_time }} Uhr.\n\n{% if ticket_url %}Melden Sie sich bei Ankunft auf der Seite"
            " Ihres Termins an (oder sagen Sie ihn dort ab, wenn Sie nicht kommen können):"
            " {{ ticket_url }}\n\n{% else %}Bitte melden Sie sich bei Ankunft an.\n\n{% endif %}"
            "{% if tenant_name %}{{ tenant_name }}{% endif %}",
        ),
        "es": Wording(
            "Recordatorio: {{ queue_name }} a las {{ slot_time }}",
            "Su cita en {{ queue_name }}: {{ slot_date }}, {{ slot_time }}."
            "{% if ticket_url %} Registro:" + LINK + "{% endif %}",
            "Recordatorio: su cita en {{ queue_name }} es el {{ slot_date }} a las"
            " {{ slot_time }}.\n\n{% if ticket_url %}Al llegar, registre su llegada en la"
            " página de su cita (o anúlela allí si no puede venir): {{ ticket_url }}\n\n"
            "{% else %}Registre su llegada al llegar.\n\n{% endif %}"
            "{% if tenant_name %}{{ tenant_name }}{% endif %}",
        ),
    },
}

# What follows a ticket message's text in an email, before the signature: the ticket's link.
TICKET_FOOTERS: dict[str, str] = {
    "en": "Follow your place in the queue: {{ ticket_url }}",
    "fr": "Suivez votre place dans la file : {{ ticket_url }}",
    "de": "Ihr Platz in der Warteschlange: {{ ticket_url }}",
    "es": "Siga su lugar en la fila: {{ ticket_url }}",
}


def email_body(text: str, language: str) -> str:
    """A ticket message's email: its text, the link to the ticket, the signature."""
    return (
        text + "\n\n{% if ticket_url %}" + TICKET_FOOTERS[language] + "\n\n{% endif %}"
        "{% if tenant_name %}{{ tenant_name }}{% endif %}"
    )


# A counter named by a number or a short code ("2", "B", "A1") is "counter 2" in the message;
# one named in words ("Room 4", "Desk B") is named as it is.
COUNTER_WORDS: dict[str, str] = {
    "en": "counter",
    "fr": "guichet",
    "de": "Schalter",
    "es": "ventanilla",
}
_BARE_COUNTER = re.compile(r"[0-9]+|[A-Za-z]|[A-Za-z]{0,2}-?[0-9]{1,3}[A-Za-z]?")


def base_language(language: str, known: Iterable[str]) -> str:
    """The language tag's base language when `known` has it, else English: "fr-CA" and "fr_ca"
    are "fr", "pt" is "en" (how every piece of our words is picked)."""
    base = language.replace("_", "-").split("-")[0].lower()
    return base if base in known else "en"


def counter_label(counter: str | None, language: str) -> str | None:
    """The counter as a message names it, in the message's language (its base language, then
    English: as `templates.default_template` picks the words)."""
    if not counter or not counter.strip():
        return None
    name = counter.strip()
    if not _BARE_COUNTER.fullmatch(name):
        return name
    return f"{COUNTER_WORDS[base_language(language, COUNTER_WORDS)]} {name}"


SAMPLE: dict[str, object] = {
    "slot_time": "10:30",
    "slot_date": "2026-03-14",
    "number": "A-042",
    "queue_name": "Town Hall",
    "people_ahead": 3,
    "position": 4,
    "counter": "2",  # a bare number, as most counters are named: see counter_label
    "counter_label": "counter 2",
    "minutes": 12,
    "wait_range": "10-15 minutes",
    "ticket_url": "https://q.example.com/t/7Hq2xR",
    "feedback_url": "https://q.example.com/f/7Hq2xR",
    "text": "We close at 17:00 today; everyone with a ticket will still be served.",
    "tenant_name": "City of Springfield",
}
