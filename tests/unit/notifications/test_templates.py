"""Templates: every default renders in every language, a tenant's mistakes are caught when the
template is saved, and nothing in a template reaches out of the sandbox or runs away."""

from __future__ import annotations

import re
import time

import pytest

from notifications.default_templates import counter_label
from notifications.templates import (
    ALERT_TOPICS,
    CHANNELS,
    LANGUAGES,
    SAMPLE,
    TICKET_TOPICS,
    TOPICS,
    Template,
    TemplateInvalid,
    default_template,
    render,
    validate,
    variables_for,
)

DEFAULTS = [
    (topic, channel, language) for topic in TOPICS for channel in CHANNELS for language in LANGUAGES
]
SHORT = ("sms", "whatsapp", "push", "chat")


def test_the_topics_are_the_ones_messages_are_about() -> None:
    assert set(TICKET_TOPICS) == {
        "ahead",
        "eta",
        "called",
        "recalled",
        "returned",
        "missed",
        "moved",
        "served",
        "cancelled",
        "paused",
        "resumed",
        "closed",
        "announcement",
        "reminder",
        "subscribed",
    }
    assert set(ALERT_TOPICS) == {
        "alert:joined_empty_queue",
        "alert:p90_over_target",
        "alert:counter_idle",
        "alert:accuracy_degraded",
        "alert:delivery_failures",
        "alert:unusual_arrivals",
        "alert:bottleneck",
    }
    assert set(TOPICS) == {*TICKET_TOPICS, *ALERT_TOPICS, "summary"}
    assert "people_ahead" in TOPICS["ahead"] and "dashboard_url" in TOPICS["summary"]
    for topic, allowed in TOPICS.items():
        assert set(SAMPLE[topic]) == allowed, topic


@pytest.mark.parametrize(("topic", "channel", "language"), DEFAULTS)
def test_every_default_validates_and_renders(topic: str, channel: str, language: str) -> None:
    template = default_template(topic, channel, language)
    validate(topic, channel, template.body, template.subject)
    sample = render(template, SAMPLE[topic])
    assert sample.text and "None" not in sample.text
    assert "{" not in sample.text and "  " not in sample.text
    # Every value may be missing: the defaults say less, but still render.
    empty = render(template, variables_for(topic, {}))
    assert "None" not in empty.text
    if channel == "email":
        assert sample.subject and "\n" not in sample.subject
        assert empty.subject is not None and "None" not in empty.subject
    else:
        assert sample.subject is None


@pytest.mark.parametrize(("topic", "language"), [(t, lang) for t in TOPICS for lang in LANGUAGES])
def test_short_defaults_fit_in_one_sms(topic: str, language: str) -> None:
    for channel in SHORT:
        text = render(default_template(topic, channel, language), SAMPLE[topic]).text
        assert len(text) <= 160, (channel, len(text), text)
        assert "\n" not in text
        assert not {"\u2019", "\u2013", "\u2014", "\u201c"} & set(text)  # would make it UCS-2


def test_the_defaults_read_naturally() -> None:
    ahead = render(default_template("ahead", "sms", "en"), SAMPLE["ahead"]).text
    assert ahead.startswith("A-042: 3 people ahead at Town Hall. Please head back.")
    called = render(default_template("called", "sms", "en"), SAMPLE["called"]).text
    assert called == "A-042, it's your turn: please go to counter 2."
    one = render(default_template("ahead", "sms", "en"), {**SAMPLE["ahead"], "people_ahead": 1})
    assert "1 person ahead at" in one.text
    nobody = render(
        default_template("called", "sms", "de"), {**SAMPLE["called"], "counter_label": None}
    )
    assert nobody.text == "A-042, Sie sind an der Reihe: Bitte kommen Sie jetzt zu Town Hall."
    served = render(default_template("served", "email", "fr"), SAMPLE["served"])
    assert served.subject == "Merci de votre visite à Town Hall"
    assert served.text.endswith(
        "Suivez votre place dans la file : https://q.example.com/t/7Hq2xR\n\nCity of Springfield"
    )
    assert "Votre avis nous intéresse : https://q.example.com/f/7Hq2xR\n\n" in served.text


@pytest.mark.parametrize(
    ("language", "counter", "says"),
    [
        ("en", "2", "A-042, it's your turn: please go to counter 2."),
        ("fr", "2", "A-042, c'est votre tour : guichet 2."),
        ("de", "B", "A-042, Sie sind an der Reihe: Bitte gehen Sie zu Schalter B."),
        ("es", "12", "A-042, es su turno: pase a ventanilla 12."),
        ("de-AT", "A1", "A-042, Sie sind an der Reihe: Bitte gehen Sie zu Schalter A1."),
        ("pt", "3", "A-042, it's your turn: please go to counter 3."),
        ("en", "Room 4", "A-042, it's your turn: please go to Room 4."),
        ("fr", "Bureau B", "A-042, c'est votre tour : Bureau B."),
        ("es", "Mostrador", "A-042, es su turno: pase a Mostrador."),
    ],
)
def test_a_counter_named_by_a_number_is_called_a_counter(
    language: str, counter: str, says: str
) -> None:
    """A bare number or code gets the word for counter in the message's language ("please go
    to 2." said nothing); a counter named in words is named as it is."""
    values = {
        **SAMPLE["called"],
        "counter": counter,
        "counter_label": counter_label(counter, language),
    }
    assert render(default_template("called", "sms", language), values).text == says
    assert counter_label(None, "en") is None and counter_label(" ", "fr") is None


def test_the_summary_email_leaves_out_unknown_figures() -> None:
    template = default_template("summary", "email", "en")
    full = render(template, SAMPLE["summary"]).text
    assert "Mean wait: 12 min\n90% waited less than: 23 min\n" in full
    partial = render(template, {**SAMPLE["summary"], "p90_wait_minutes": None}).text
    assert "Mean wait: 12 min\n\nDashboard:" in partial and "90%" not in partial


def test_a_language_falls_back_to_its_base_then_to_english() -> None:
    assert default_template("called", "sms", "fr-CA") == default_template("called", "sms", "fr")
    assert default_template("called", "sms", "de_AT") == default_template("called", "sms", "de")
    assert default_template("called", "sms", "pt-BR") == default_template("called", "sms", "en")
    assert default_template("called", "sms", "") == default_template("called", "sms", "en")
    # The short channels share the SMS wording; email has a subject and more.
    assert default_template("eta", "push", "es") == default_template("eta", "sms", "es")
    email = default_template("eta", "email", "es")
    assert email.subject and email.body != default_template("eta", "sms", "es").body


def test_no_defaults_for_unknown_topics_or_webhooks() -> None:
    with pytest.raises(TemplateInvalid, match="unknown topic 'nope'"):
        default_template("nope", "sms", "en")
    with pytest.raises(TemplateInvalid, match="channel 'webhook'"):
        default_template("called", "webhook", "en")


def test_an_unknown_variable_is_named_with_a_suggestion() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate("ahead", "sms", "{{ nmber }} is next", None)
    message = str(caught.value)
    assert "unknown variable 'nmber'" in message and "did you mean 'number'?" in message
    assert "known: cancelled_by, counter, counter_label, feedback_url" in message
    # A variable of another topic is unknown here.
    with pytest.raises(TemplateInvalid, match="unknown variable 'dashboard_url'"):
        validate("called", "sms", "{{ dashboard_url }}", None)
    with pytest.raises(TemplateInvalid, match="the subject: unknown variable 'x'"):
        validate("called", "email", "{{ number }}", "{{ x }}")


def test_a_syntax_error_says_where() -> None:
    with pytest.raises(TemplateInvalid, match=r"the body: syntax error, line 2: unexpected '}'"):
        validate("called", "sms", "Hello\n{{ number }\n", None)
    with pytest.raises(TemplateInvalid, match="syntax error, line 1"):
        validate("called", "sms", "{% if counter %}go to {{ counter }}", None)
    with pytest.raises(TemplateInvalid, match="the subject: syntax error"):
        validate("called", "email", "{{ number }}", "{{ number")


def test_the_shape_of_a_template_is_checked() -> None:
    with pytest.raises(TemplateInvalid, match="unknown topic 'nope'"):
        validate("nope", "sms", "hello", None)
    with pytest.raises(TemplateInvalid, match="channel 'webhook' has no templates"):
        validate("called", "webhook", "hello", None)
    with pytest.raises(TemplateInvalid, match="an email needs a subject"):
        validate("called", "email", "hello", None)
    with pytest.raises(TemplateInvalid, match="an email needs a subject"):
        validate("called", "email", "hello", "  ")
    with pytest.raises(TemplateInvalid, match="a subject is for email only, not sms"):
        validate("called", "sms", "hello", "hi")
    with pytest.raises(TemplateInvalid, match="the body is empty"):
        validate("called", "sms", " \n", None)
    with pytest.raises(TemplateInvalid, match="longer than 4096 bytes"):
        validate("called", "sms", "é" * 2049, None)  # 4098 bytes
    validate("called", "sms", "x" * 4096, None)
    with pytest.raises(TemplateInvalid, match="longer than 200 characters"):
        validate("called", "email", "hello", "x" * 201)
    with pytest.raises(TemplateInvalid, match="the subject is one line"):
        validate("called", "email", "hello", "one\ntwo")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ ''.__class__ }}", "attribute access"),
        ("{{ number.__class__.__mro__ }}", "attribute access"),
        ("{{ number['__class__'] }}", "item access"),
        ("{{ number|attr('__class__') }}", "unknown filter 'attr'"),
        ("{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}", "for loop"),
        ("{{ cycler.__init__.__globals__ }}", "attribute access"),
        ("{{ lipsum() }}", "calling a function"),
        ("{{ range(10) }}", "calling a function"),
        ("{{ self }}", "the name 'self'"),
        ("{{ _secret }}", "the name '_secret'"),
        ("{% include '/etc/passwd' %}", "include"),
        ("{% extends 'base' %}", "extends"),
        ("{% import 'x' as y %}", "import"),
        ("{% set a = number ~ number %}{{ a }}", "set"),
        ("{% macro m() %}{% endmacro %}", "macro"),
        ("{% filter upper %}{{ number }}{% endfilter %}", "filter block"),
        # Runaway output or time: refused before anything is evaluated (even constant folding).
        ("{{ 'x' * 1000000000 }}", "the * operator"),
        ("{{ 9 ** 9 ** 9 }}", "the ** operator"),
        ("{{ '%999999999d' % 1 }}", "the % operator"),
        ("{{ number|center(1000000000) }}", "unknown filter 'center'"),
    ],
)
def test_escapes_and_runaways_are_refused_at_validate_and_at_render(
    source: str, problem: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateInvalid, match=re.escape(problem)):
        validate("called", "sms", source, None)
    # A template that was never validated (an old row, a direct call) is checked as it compiles.
    with pytest.raises(TemplateInvalid, match=re.escape(problem)):
        render(Template(source), SAMPLE["called"])
    assert time.perf_counter() - started < 1.0


def test_the_allowed_language_is_enough_for_real_templates() -> None:
    source = (
        "{{ number|upper }}: {% if people_ahead is none %}soon{% elif people_ahead > 1 %}"
        "{{ people_ahead }} ahead{% else %}next{% endif %} ({{ minutes|default(0) + 1 }} min)"
        "{{ ' at ' ~ counter if counter else '' }} {{ queue_name|truncate(9, true, '') }}"
    )
    validate("ahead", "sms", source, None)
    text = render(Template(source), SAMPLE["ahead"]).text
    assert text == "A-042: 3 ahead (13 min) at 2 Town Hall"


def test_render_fails_cleanly_on_a_missing_variable_or_a_bad_value() -> None:
    with pytest.raises(TemplateInvalid, match="'counter' is undefined"):
        render(Template("{{ number }} to {{ counter }}"), {"number": "A-1"})
    with pytest.raises(TemplateInvalid, match="cannot render"):
        render(Template("{{ minutes + 1 }}"), {"minutes": None})
    with pytest.raises(TemplateInvalid, match="cannot render"):
        render(Template("{{ minutes // 0 }}"), {"minutes": 3})


def test_variables_for_fills_every_known_variable() -> None:
    values = variables_for("called", {"number": "A-7", "counter": "3", "dashboard_url": "x"})
    assert set(values) == TOPICS["called"]
    assert values["number"] == "A-7" and values["people_ahead"] is None
    assert "dashboard_url" not in values
    with pytest.raises(TemplateInvalid, match="unknown topic"):
        variables_for("nope", {})


def test_a_rendered_subject_is_one_line_whatever_the_values_hold() -> None:
    template = Template("{{ text }}", "{{ queue_name }}: news")
    rendered = render(template, {"text": "x", "queue_name": "Hall\r\nBcc: everyone@example.com"})
    assert rendered.subject == "Hall Bcc: everyone@example.com: news"


def test_a_none_prints_as_nothing() -> None:
    assert render(Template("[{{ counter }}]"), {"counter": None}).text == "[]"


def test_rendering_is_cheap_once_compiled() -> None:
    template = default_template("ahead", "sms", "de")
    render(template, SAMPLE["ahead"])
    started = time.perf_counter()
    for people in range(2000):
        render(template, {**SAMPLE["ahead"], "people_ahead": people})
    assert time.perf_counter() - started < 1.0  # well over 1,000 messages a second
