"""Our words for a ticket that changed hands or left: moved to another queue, called and missed,
or cancelled.

Data, shaped like `default_templates.TICKET` (and merged with it in templates.py): per topic and
language an email subject and the short text, which ends with the ticket's link in an SMS (both
are in default_templates.LINKED) and so stays within some 65 characters of the GSM 7-bit
alphabet with a 20-character queue name and 6-character numbers (no "ó", "ê", curly quotes).

* `moved` starts with the number the person holds (`previous_number`, when the notifier knew
  it) and gives the new one when the move changed it: a transfer gives a number of the new
  queue, a merge keeps the one on the paper.
* `missed` says until when the person may come back (`return_time`, the queue's clock, as
  reminders say their slot; and `return_date`, the day, when it is not the day the ticket was
  missed) or, when the queue gives no grace period, that the ticket has ended. The short text
  has no room for the queue's name; the email says it.
* `cancelled` says who ended the place when the notifier knows (`cancelled_by`): the queue's
  close (those still waiting sent home), the person (a confirmation), or staff. It has no link
  (the ticket is over) and stays within one SMS (test_sms_length.py).
"""

from __future__ import annotations

from notifications.default_templates import Wording, email_body

# The number the person knows, then the new one when it changed.
_WAS = "{{ previous_number or number }}"
_RENUMBERED = "previous_number and previous_number != number"


def _moved(was: str, renumbered: str, ahead: str) -> str:
    """`was`: the words when the number changed ({{ queue_name }}, {{ number }}); `renumbered`:
    when it did not; `ahead`: the place, after a comma."""
    return f"{{% if {_RENUMBERED} %}}{was}{{% else %}}{renumbered}{{% endif %}}{ahead}."


MOVED_TEXT: dict[str, str] = {
    "en": _moved(
        _WAS + ": moved to {{ queue_name }}, now {{ number }}",
        "{{ number }}: moved to {{ queue_name }}",
        "{% if people_ahead == 0 %}, you're next{% elif people_ahead %},"
        " {{ people_ahead }} ahead{% endif %}",
    ),
    "fr": _moved(
        _WAS + " devient {{ number }} à {{ queue_name }}",
        "{{ number }} : transféré à {{ queue_name }}",
        "{% if people_ahead == 0 %}, c'est presque à vous{% elif people_ahead %},"
        " {{ people_ahead }} avant vous{% endif %}",
    ),
    "de": _moved(
        _WAS + ": zu {{ queue_name }} verlegt, Nr. {{ number }}",
        "{{ number }}: zu {{ queue_name }} verlegt",
        "{% if people_ahead == 0 %}, als Nächstes{% elif people_ahead %},"
        " {{ people_ahead }} vor Ihnen{% endif %}",
    ),
    "es": _moved(
        _WAS + ": pasa a {{ queue_name }} como {{ number }}",
        "{{ number }}: pasa a {{ queue_name }}",
        "{% if people_ahead == 0 %}, es el siguiente{% elif people_ahead %},"
        " {{ people_ahead }} por delante{% endif %}",
    ),
}

# What `missed` says after "you missed your turn": until when to come back (the day too when it
# is not today's, `return_date`, as reminders say a slot's day and time: shorter then, to stay one
# SMS with the longest day in words), or that the ticket has ended.
_BACK: dict[str, tuple[str, str, str]] = {
    "en": (
        "Back by {{ return_time }} to keep your place.",
        "Back by {{ return_date }} at {{ return_time }}.",
        "Your ticket has ended.",
    ),
    "fr": (
        "Revenez avant {{ return_time }} pour garder votre place.",
        "Revenez avant le {{ return_date }} à {{ return_time }}.",
        "Votre ticket est clos.",
    ),
    "de": (
        "Zurück bis {{ return_time }} Uhr: Ihr Platz bleibt.",
        "Zurück bis zum {{ return_date }}, {{ return_time }} Uhr.",
        "Ihr Ticket ist beendet.",
    ),
    "es": (
        "Vuelva a la fila antes de las {{ return_time }}.",
        "Vuelva antes del {{ return_date }}, {{ return_time }}.",
        "Su turno ha terminado.",
    ),
}
_MISSED_SHORT: dict[str, str] = {
    "en": "{{ number }}: you missed your turn.",
    "fr": "{{ number }} : tour manqué.",
    "de": "{{ number }}: Aufruf verpasst.",
    "es": "{{ number }}: turno perdido.",
}
_MISSED_LONG: dict[str, str] = {
    "en": "{{ number }}: you were called at {{ queue_name }} but missed your turn.",
    "fr": "{{ number }} : vous avez été appelé à {{ queue_name }} mais avez manqué votre tour.",
    "de": "{{ number }}: Sie wurden bei {{ queue_name }} aufgerufen, waren aber nicht da.",
    "es": "{{ number }}: le llamamos en {{ queue_name }} pero no acudió a su turno.",
}


def _back(language: str) -> str:
    today, another_day, ended = _BACK[language]
    return (
        f"{{% if return_time and return_date %}} {another_day}"
        f"{{% elif return_time %}} {today}{{% else %}} {ended}{{% endif %}}"
    )


MOVES: dict[str, dict[str, Wording]] = {
    "moved": {
        "en": Wording(_WAS + ": you were moved to {{ queue_name }}", MOVED_TEXT["en"]),
        "fr": Wording(_WAS + " : transfert à {{ queue_name }}", MOVED_TEXT["fr"]),
        "de": Wording(_WAS + ": verlegt zu {{ queue_name }}", MOVED_TEXT["de"]),
        "es": Wording(_WAS + ": su turno pasa a {{ queue_name }}", MOVED_TEXT["es"]),
    },
    "missed": {
        language: Wording(
            subject,
            _MISSED_SHORT[language] + _back(language),
            email_body(_MISSED_LONG[language] + _back(language), language),
        )
        for language, subject in (
            ("en", "{{ number }}: you missed your turn at {{ queue_name }}"),
            ("fr", "{{ number }} : tour manqué à {{ queue_name }}"),
            ("de", "{{ number }}: Aufruf bei {{ queue_name }} verpasst"),
            ("es", "{{ number }}: turno perdido en {{ queue_name }}"),
        )
    },
    # Sent when the place is cancelled: by staff, by the person (a confirmation), or by a close
    # that sent those still waiting home. `cancelled_by` says which when the notifier read the
    # event itself (notifier.py `_for_left`, nearly always); else none, and the words fit all.
    "cancelled": {
        "en": Wording(
            "{{ number }}: {% if cancelled_by == 'customer' %}you left the line at"
            " {{ queue_name }}{% else %}your place at {{ queue_name }} is cancelled{% endif %}",
            "{{ number }}: {% if cancelled_by == 'closing' %}{{ queue_name }} has closed and can"
            " no longer serve you, so your place in line is cancelled. We are sorry."
            "{% elif cancelled_by == 'customer' %}you have left the line at {{ queue_name }}."
            " Thank you for letting us know.{% else %}your place in line at {{ queue_name }} is"
            " cancelled. If this is a mistake, please take a new ticket.{% endif %}",
        ),
        "fr": Wording(
            "{{ number }} : {% if cancelled_by == 'customer' %}vous avez quitté la file"
            " {{ queue_name }}{% else %}votre place à {{ queue_name }} est annulée{% endif %}",
            "{{ number }} : {% if cancelled_by == 'closing' %}{{ queue_name }} a fermé et ne"
            " peut plus vous recevoir : votre place dans la file est annulée. Nous en sommes"
            " désolés.{% elif cancelled_by == 'customer' %}vous avez quitté la file"
            " {{ queue_name }}. Merci de nous avoir prévenus.{% else %}votre place dans la file"
            " {{ queue_name }} est annulée. Si c'est une erreur, merci de prendre un nouveau"
            " ticket.{% endif %}",
        ),
        "de": Wording(
            "{{ number }}: {% if cancelled_by == 'customer' %}Sie haben {{ queue_name }}"
            " verlassen{% else %}Ihr Platz bei {{ queue_name }} ist storniert{% endif %}",
            "{{ number }}: {% if cancelled_by == 'closing' %}{{ queue_name }} hat geschlossen"
            " und kann Sie nicht mehr bedienen: Ihr Platz ist storniert. Das tut uns leid."
            "{% elif cancelled_by == 'customer' %}Sie haben die Warteschlange bei"
            " {{ queue_name }} verlassen. Danke, dass Sie Bescheid gegeben haben.{% else %}Ihr"
            " Platz bei {{ queue_name }} ist storniert. Falls das ein Irrtum ist, ziehen Sie"
            " bitte ein neues Ticket.{% endif %}",
        ),
        "es": Wording(
            "{{ number }}: {% if cancelled_by == 'customer' %}ha dejado la fila de"
            " {{ queue_name }}{% else %}su lugar en {{ queue_name }} ha sido cancelado"
            "{% endif %}",
            "{{ number }}: {% if cancelled_by == 'closing' %}{{ queue_name }} ha cerrado y ya"
            " no puede atenderle: su lugar en la fila ha sido cancelado. Lo sentimos."
            "{% elif cancelled_by == 'customer' %}ha dejado la fila de {{ queue_name }}."
            " Gracias por avisarnos.{% else %}su lugar en la fila de {{ queue_name }} ha sido"
            " cancelado. Si es un error, por favor saque un nuevo turno.{% endif %}",
        ),
    },
}

SAMPLE: dict[str, object] = {
    "previous_number": "A-006",
    "return_time": "10:45",
    "return_date": None,  # the day only when it is not the day of the message
    "cancelled_by": "staff",  # a cancel's who: customer, staff, closing (or None: not known)
}
