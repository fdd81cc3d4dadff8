"""The words staff get before a tenant writes its own: alerts and the daily summary, in four
languages.

Data only, shaped like `default_templates.TICKET`: per topic and language an email subject and a
short text (chat, SMS, push; the email's first paragraph), and for the summary a whole email.
Values may be None (an alert about the whole tenant has no queue): every use is guarded.
"""

from __future__ import annotations

from notifications.default_templates import Wording

_DETAIL = "{% if detail %} {{ detail }}{% endif %}"
_QUEUE = "{% if queue_name %}{{ queue_name }}: {% endif %}"
_QUEUE_FR = "{% if queue_name %}{{ queue_name }} : {% endif %}"


def _counter(otherwise: str) -> str:
    return "{% if counter %}{{ counter }}{% else %}" + otherwise + "{% endif %}"


def _subject(words: str) -> str:
    return "{% if queue_name %}[{{ queue_name }}] {% endif %}" + words


def _with(value: str, threshold: str) -> str:
    """The value's words, then the threshold's, each printed only when known."""
    return (
        "{% if value is not none %}" + value + "{% endif %}"
        "{% if threshold is not none %}" + threshold + "{% endif %}"
    )


ALERTS: dict[str, dict[str, Wording]] = {
    "alert:joined_empty_queue": {
        "en": Wording(
            _subject("Someone is waiting"),
            _QUEUE + "someone joined the queue while it was empty; a counter may need to open.",
        ),
        "fr": Wording(
            _subject("Quelqu'un attend"),
            _QUEUE_FR + "quelqu'un a rejoint la file alors qu'elle était vide ; il faut"
            " peut-être ouvrir un guichet.",
        ),
        "de": Wording(
            _subject("Jemand wartet"),
            _QUEUE + "Jemand hat sich in die leere Warteschlange eingereiht; vielleicht"
            " muss ein Schalter öffnen.",
        ),
        "es": Wording(
            _subject("Alguien está esperando"),
            _QUEUE + "alguien se ha unido a la fila cuando estaba vacía; quizá haya que"
            " abrir un puesto.",
        ),
    },
    "alert:p90_over_target": {
        "en": Wording(
            _subject("Waits are over target"),
            _QUEUE
            + "90% of waits are longer than they should be"
            + _with(": {{ value }} min", " (target: {{ threshold }} min)")
            + ".",
        ),
        "fr": Wording(
            _subject("Attentes au-delà de l'objectif"),
            _QUEUE_FR
            + "le 90e centile d'attente dépasse l'objectif"
            + _with(" : {{ value }} min", " (objectif : {{ threshold }} min)")
            + ".",
        ),
        "de": Wording(
            _subject("Wartezeiten über dem Ziel"),
            _QUEUE
            + "Das 90. Perzentil der Wartezeit liegt über dem Ziel"
            + _with(": {{ value }} Min.", " (Ziel: {{ threshold }} Min.)")
            + ".",
        ),
        "es": Wording(
            _subject("Esperas por encima del objetivo"),
            _QUEUE
            + "el percentil 90 de la espera supera el objetivo"
            + _with(": {{ value }} min", " (objetivo: {{ threshold }} min)")
            + ".",
        ),
    },
    "alert:counter_idle": {
        "en": Wording(
            _subject(_counter("A counter") + " is idle"),
            _QUEUE
            + _counter("a counter")
            + " has called no one"
            + _with(" for {{ value }} min", " (limit: {{ threshold }} min)")
            + " while people are waiting.",
        ),
        "fr": Wording(
            _subject(_counter("Un guichet") + " inactif"),
            _QUEUE_FR
            + _counter("un guichet")
            + " n'a appelé personne"
            + _with(" depuis {{ value }} min", " (limite : {{ threshold }} min)")
            + " alors que des personnes attendent.",
        ),
        "de": Wording(
            _subject(_counter("Ein Schalter") + " ist untätig"),
            _QUEUE
            + _counter("Ein Schalter")
            + " hat"
            + _with(" seit {{ value }} Min.", " (Grenze: {{ threshold }} Min.)")
            + " niemanden aufgerufen, obwohl Personen warten.",
        ),
        "es": Wording(
            _subject(_counter("Un puesto") + " está inactivo"),
            _QUEUE
            + _counter("un puesto")
            + " no ha llamado a nadie"
            + _with(" en {{ value }} min", " (límite: {{ threshold }} min)")
            + " aunque hay personas esperando.",
        ),
    },
    "alert:accuracy_degraded": {
        "en": Wording(
            _subject("Wait estimates are less accurate"),
            _QUEUE
            + "wait estimates are less accurate than usual"
            + _with(": {{ value }}", " (target: {{ threshold }})")
            + ".",
        ),
        "fr": Wording(
            _subject("Estimations d'attente moins fiables"),
            _QUEUE_FR
            + "les estimations d'attente sont moins fiables que d'habitude"
            + _with(" : {{ value }}", " (objectif : {{ threshold }})")
            + ".",
        ),
        "de": Wording(
            _subject("Wartezeit-Schätzungen ungenauer"),
            _QUEUE
            + "Die Wartezeit-Schätzungen sind ungenauer als sonst"
            + _with(": {{ value }}", " (Ziel: {{ threshold }})")
            + ".",
        ),
        "es": Wording(
            _subject("Estimaciones de espera menos precisas"),
            _QUEUE
            + "las estimaciones de espera son menos precisas de lo habitual"
            + _with(": {{ value }}", " (objetivo: {{ threshold }})")
            + ".",
        ),
    },
    "alert:unusual_arrivals": {
        "en": Wording(
            _subject("Unusually many people are coming"),
            _QUEUE
            + "unusually many arrivals"
            + _with(": {{ value }}", " (usually {{ threshold }})")
            + ".",
        ),
        "fr": Wording(
            _subject("Affluence inhabituelle"),
            _QUEUE_FR
            + "affluence inhabituelle"
            + _with(" : {{ value }}", " (d'habitude {{ threshold }})")
            + ".",
        ),
        "de": Wording(
            _subject("Ungewöhnlicher Andrang"),
            _QUEUE
            + "ungewöhnlicher Andrang"
            + _with(": {{ value }}", " (sonst {{ threshold }})")
            + ".",
        ),
        "es": Wording(
            _subject("Afluencia inusual"),
            _QUEUE
            + "afluencia inusual"
            + _with(": {{ value }}", " (lo normal: {{ threshold }})")
            + ".",
        ),
    },
    "alert:bottleneck": {
        "en": Wording(
            _subject("Something limits the queue"),
            _QUEUE + "bottleneck" + _with(" (about {{ value }}/h)", "") + ":" + _DETAIL,
        ),
        "fr": Wording(
            _subject("Goulot d'étranglement"),
            _QUEUE_FR
            + "goulot d'étranglement"
            + _with(" (environ {{ value }}/h)", "")
            + " :"
            + _DETAIL,
        ),
        "de": Wording(
            _subject("Engpass in der Warteschlange"),
            _QUEUE + "Engpass" + _with(" (etwa {{ value }}/Std.)", "") + ":" + _DETAIL,
        ),
        "es": Wording(
            _subject("Algo limita la fila"),
            _QUEUE + "cuello de botella" + _with(" (unas {{ value }}/h)", "") + ":" + _DETAIL,
        ),
    },
    "alert:delivery_failures": {
        "en": Wording(
            "Notifications are failing",
            _QUEUE
            + "notifications are failing to reach people"
            + _with(": {{ value }} failed", " (alert at {{ threshold }})")
            + ".",
        ),
        "fr": Wording(
            "Des notifications échouent",
            _QUEUE_FR
            + "des notifications n'arrivent pas à destination"
            + _with(" : {{ value }} échecs", " (alerte à {{ threshold }})")
            + ".",
        ),
        "de": Wording(
            "Benachrichtigungen schlagen fehl",
            _QUEUE
            + "Benachrichtigungen kommen nicht an"
            + _with(": {{ value }} fehlgeschlagen", " (Alarm ab {{ threshold }})")
            + ".",
        ),
        "es": Wording(
            "Fallan las notificaciones",
            _QUEUE
            + "las notificaciones no llegan a su destino"
            + _with(": {{ value }} fallidas", " (umbral: {{ threshold }})")
            + ".",
        ),
    },
}

# Alerts: the text, then the detail and the dashboard (chat and SMS too: staff act on the link).
ALERT_SUFFIX = _DETAIL + "{% if dashboard_url %} {{ dashboard_url }}{% endif %}"
ALERT_EMAIL_SUFFIX = _DETAIL + "{% if dashboard_url %}\n\n{{ dashboard_url }}{% endif %}"


def _summary_email(title: str, colon: str, labels: tuple[str, ...]) -> str:
    """The summary's email: a title, then one line per figure (a figure not known: no line)."""
    served, waiting, no_shows, mean, p90, dashboard = (label + colon for label in labels)
    return (
        f"{title}\n\n{served}{{{{ served }}}}\n{waiting}{{{{ waiting }}}}\n"
        f"{no_shows}{{{{ no_shows }}}}\n"
        f"{{% if mean_wait_minutes is not none %}}{mean}{{{{ mean_wait_minutes|round|int }}}}"
        " min\n{% endif %}"
        f"{{% if p90_wait_minutes is not none %}}{p90}{{{{ p90_wait_minutes|round|int }}}}"
        " min\n{% endif %}"
        f"{{% if dashboard_url %}}\n{dashboard}{{{{ dashboard_url }}}}{{% endif %}}"
    )


def _summary_text(head: str, counts: str, mean: str, p90: str) -> str:
    return (
        head + counts + "{% if mean_wait_minutes is not none %}" + mean + "{% endif %}"
        "{% if p90_wait_minutes is not none %}" + p90 + "{% endif %}"
    )


SUMMARY: dict[str, Wording] = {
    "en": Wording(
        _QUEUE + "summary for {{ date }}",
        _summary_text(
            "{{ queue_name }}, {{ date }}: ",
            "{{ served }} served, {{ waiting }} waiting, {{ no_shows }} no-shows.",
            " Mean wait {{ mean_wait_minutes|round|int }} min.",
            " 90% waited under {{ p90_wait_minutes|round|int }} min.",
        ),
        _summary_email(
            "{{ queue_name }} on {{ date }}",
            ": ",
            (
                "Served",
                "Still waiting",
                "No-shows",
                "Mean wait",
                "90% waited less than",
                "Dashboard",
            ),
        ),
    ),
    "fr": Wording(
        _QUEUE_FR + "bilan du {{ date }}",
        _summary_text(
            "{{ queue_name }}, {{ date }} : ",
            "{{ served }} servis, {{ waiting }} en attente, {{ no_shows }} absents.",
            " Attente moyenne {{ mean_wait_minutes|round|int }} min.",
            " 90 % ont attendu moins de {{ p90_wait_minutes|round|int }} min.",
        ),
        _summary_email(
            "{{ queue_name }} le {{ date }}",
            " : ",
            (
                "Servis",
                "Encore en attente",
                "Absents",
                "Attente moyenne",
                "90 % ont attendu moins de",
                "Tableau de bord",
            ),
        ),
    ),
    "de": Wording(
        _QUEUE + "Zusammenfassung vom {{ date }}",
        _summary_text(
            "{{ queue_name }}, {{ date }}: ",
            "{{ served }} bedient, {{ waiting }} wartend, {{ no_shows }} nicht erschienen.",
            " Mittlere Wartezeit {{ mean_wait_minutes|round|int }} Min.",
            " 90 % warteten unter {{ p90_wait_minutes|round|int }} Min.",
        ),
        _summary_email(
            "{{ queue_name }} am {{ date }}",
            ": ",
            (
                "Bedient",
                "Noch wartend",
                "Nicht erschienen",
                "Mittlere Wartezeit",
                "90 % warteten weniger als",
                "Dashboard",
            ),
        ),
    ),
    "es": Wording(
        _QUEUE + "resumen del {{ date }}",
        _summary_text(
            "{{ queue_name }}, {{ date }}: ",
            "{{ served }} atendidos, {{ waiting }} en espera, {{ no_shows }} ausentes.",
            " Espera media {{ mean_wait_minutes|round|int }} min.",
            " El 90 % esperó menos de {{ p90_wait_minutes|round|int }} min.",
        ),
        _summary_email(
            "{{ queue_name }} el {{ date }}",
            ": ",
            (
                "Atendidos",
                "Aún en espera",
                "Ausentes",
                "Espera media",
                "El 90 % esperó menos de",
                "Panel",
            ),
        ),
    ),
}

# A sample for every alert: what a preview renders a template with.
_SAMPLE: dict[str, object] = {
    "queue_name": "Town Hall",
    "queue_id": "6f1c2a9e-3b7d-4e25-9a41-0c8f5d2e7b13",
    "value": 24,
    "threshold": 20,
    "counter": "Counter 2",
    "detail": "14 people waiting.",
    "dashboard_url": "https://q.example.com/dashboard/6f1c2a9e",
}
SAMPLES: dict[str, dict[str, object]] = {
    "alert:joined_empty_queue": {**_SAMPLE, "value": 1, "threshold": None, "detail": None},
    "alert:p90_over_target": dict(_SAMPLE),
    "alert:counter_idle": {**_SAMPLE, "value": 15, "threshold": 10, "detail": None},
    "alert:accuracy_degraded": {**_SAMPLE, "value": "61%", "threshold": "80%", "detail": None},
    "alert:delivery_failures": {**_SAMPLE, "value": 37, "detail": "The SMS provider answers 503."},
    "alert:unusual_arrivals": {
        **_SAMPLE,
        "value": 19,
        "threshold": 5.7,
        "counter": None,
        "detail": "19 in 15 min from 11:00.",
    },
    "alert:bottleneck": {
        **_SAMPLE,
        "value": 12,
        "threshold": None,
        "detail": "counter 2 idle, 14 waiting",
    },
    "summary": {
        "queue_name": "Town Hall",
        "date": "2026-03-12",
        "served": 184,
        "waiting": 3,
        "mean_wait_minutes": 11.6,
        "p90_wait_minutes": 23.2,
        "no_shows": 7,
        "dashboard_url": "https://q.example.com/dashboard/6f1c2a9e",
    },
}
