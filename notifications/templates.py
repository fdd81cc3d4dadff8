"""A message's words: tenant-editable templates, checked when saved, rendered on the hot path.

Templates are Jinja2, but a small, closed part of it: variables, `{% if %}`, comparisons, `~`, a
few pure filters. A template is written by a tenant's staff and rendered in our workers, so it
must neither reach out of the sandbox nor make a worker spend unbounded time or memory:

* the environment is sandboxed (no attribute of `_` names, no unsafe callables), has no globals,
  and only allow-listed filters and tests;
* on top of that, every template is checked node by node before it is compiled: attribute and
  item access, calls, loops, `set`, macros, includes and the `*`, `**`, `%` operators are refused.
  Without loops, assignments or multiplication, the output grows at most linearly with the
  template and its values (`'x' * 10**9` and `9 ** 9 ** 9` never get to run; the latter would
  even run at compile time, in Jinja's constant folding);
* templates are bounded in size (4 KiB body, 200-character subject).

`validate` also checks that a template only names its topic's variables, so a typo is a 422 when
the template is saved, not a failed message at 3 a.m. Compiled templates are cached by source.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2 import Template as Compiled
from jinja2.filters import FILTERS
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import SandboxedEnvironment
from jinja2.tests import TESTS

from notifications import default_alerts as alerts
from notifications import default_confirmations as confirmations
from notifications import default_moves as moves
from notifications import default_templates as tickets
from notifications.messages import Rendered

TICKET_WORDS = {**tickets.TICKET, **moves.MOVES, **confirmations.CONFIRMATIONS}
TICKET_TOPICS: tuple[str, ...] = tuple(TICKET_WORDS)  # ahead, eta, called... moved, missed
ALERT_TOPICS: tuple[str, ...] = tuple(alerts.ALERTS)  # "alert:<name>"
_TICKET_VARIABLES = frozenset(
    [
        "number",
        "queue_name",
        "people_ahead",
        "position",
        "counter",  # as staff named it: "2", "Room 4"
        "counter_label",  # as the default words say it: "counter 2", "Room 4" (in its language)
        "minutes",
        "wait_range",
        "ticket_url",
        "feedback_url",
        "text",
        "tenant_name",
        "slot_time",  # a booking's reminder: its slot, in the queue's time zone
        "slot_date",
        "previous_number",  # a move's: the number the person held before it
        "return_time",  # a no-show's: until when it may come back, in the queue's time zone
        "return_date",  # ...and its day, when that is not the day the ticket was missed
        "cancelled_by",  # a cancel's: "customer", "staff", "closing" (the queue closed); or none
    ]
)
_ALERT_VARIABLES = frozenset(
    ["queue_name", "queue_id", "value", "threshold", "counter", "detail", "dashboard_url"]
)
_SUMMARY_VARIABLES = frozenset(
    [
        "queue_name",
        "date",
        "served",
        "waiting",
        "mean_wait_minutes",
        "p90_wait_minutes",
        "no_shows",
        "dashboard_url",
    ]
)
# What a message is about -> the variables its template may use.
TOPICS: dict[str, frozenset[str]] = {
    **dict.fromkeys(TICKET_TOPICS, _TICKET_VARIABLES),
    **dict.fromkeys(ALERT_TOPICS, _ALERT_VARIABLES),
    "summary": _SUMMARY_VARIABLES,
}
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es")
# The channels that send words (a webhook sends the event's JSON); only email has a subject.
CHANNELS: tuple[str, ...] = ("email", "sms", "whatsapp", "push", "chat")

MAX_BODY_BYTES = 4096
MAX_SUBJECT_CHARS = 200

# Pure, and bounded by their input (no center, indent, wordwrap, replace, format: their output
# can be made as large as a number in the template says).
_FILTERS: tuple[str, ...] = (
    *("abs", "capitalize", "count", "d", "default", "float", "int", "length", "lower"),
    *("round", "string", "title", "trim", "truncate", "upper"),
)
_TESTS: tuple[str, ...] = (
    *("defined", "undefined", "none", "number", "integer", "float", "string", "boolean"),
    *("true", "false", "even", "odd", "divisibleby", "in", "sameas"),
    *("eq", "ne", "lt", "le", "gt", "ge", "==", "!=", "<", "<=", ">", ">="),
    *("equalto", "greaterthan", "lessthan"),
)

# The whole of the language a template may use; anything else is refused by name.
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Tuple,
    nodes.List,
    nodes.If,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Add,
    nodes.Sub,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Filter,
    nodes.Test,
    nodes.Keyword,
)
_REFUSED: dict[type[nodes.Node], str] = {
    nodes.Getattr: "attribute access (like a.b)",
    nodes.Getitem: "item access (like a[0])",
    nodes.Slice: "slicing",
    nodes.Call: "calling a function or method",
    nodes.For: "a for loop",
    nodes.Assign: "set",
    nodes.AssignBlock: "set",
    nodes.Macro: "a macro",
    nodes.CallBlock: "a call block",
    nodes.FilterBlock: "a filter block",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
    nodes.Block: "a block",
    nodes.With: "with",
    nodes.Scope: "autoescape",
    nodes.ScopedEvalContextModifier: "autoescape",
    nodes.Dict: "a dict literal",
    nodes.Mul: "the * operator",
    nodes.Pow: "the ** operator",
    nodes.Mod: "the % operator",
}
_RESERVED_NAMES = frozenset({"self", "loop", "super", "caller", "varargs", "kwargs"})


class TemplateInvalid(ValueError):
    """A template that cannot be saved or rendered; the message says what is wrong, and where."""


@dataclass(frozen=True, slots=True)
class Template:
    body: str
    subject: str | None = None  # email only


def _blank_none(value: object) -> object:
    """A None that reaches the output prints as nothing, not as "None"."""
    return "" if value is None else value


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        autoescape=False,  # text, not HTML
        undefined=StrictUndefined,
        finalize=_blank_none,
        auto_reload=False,
    )
    env.globals.clear()  # range, lipsum, cycler, namespace...
    env.filters = {name: FILTERS[name] for name in _FILTERS}
    env.tests = {name: TESTS[name] for name in _TESTS}
    return env


_ENV = _environment()


@dataclass(frozen=True, slots=True)
class _Checked:
    template: Compiled
    names: frozenset[str]  # the variables it reads


@lru_cache(maxsize=4096)
def _compile(source: str) -> _Checked:
    """Parse, check and compile one template source; TemplateInvalid, without where, if not."""
    if len(source) > MAX_BODY_BYTES or len(source.encode()) > MAX_BODY_BYTES:
        raise TemplateInvalid(f"longer than {MAX_BODY_BYTES} bytes")
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"syntax error, line {exc.lineno}: {exc.message}") from exc
    _check_nodes(tree)
    # Before compiling: the compiler's optimiser rewrites the tree in place.
    names = frozenset(find_undeclared_variables(tree))
    try:
        return _Checked(_ENV.from_string(tree), names)
    except TemplateSyntaxError as exc:  # pragma: no cover - the node check refuses these first
        raise TemplateInvalid(f"line {exc.lineno}: {exc.message}") from exc


def _check_nodes(tree: nodes.Template) -> None:
    for node in tree.find_all(nodes.Node):
        where = f"line {node.lineno}: " if node.lineno else ""
        if not isinstance(node, _ALLOWED_NODES):
            what = _REFUSED.get(type(node), type(node).__name__)
            raise TemplateInvalid(f"{where}{what} is not allowed in a template")
        if isinstance(node, nodes.Name) and (
            node.ctx != "load" or node.name in _RESERVED_NAMES or node.name.startswith("_")
        ):
            raise TemplateInvalid(f"{where}the name {node.name!r} is not allowed")
        if isinstance(node, nodes.Filter) and node.name not in _ENV.filters:
            known = ", ".join(_FILTERS)
            raise TemplateInvalid(f"{where}unknown filter {node.name!r} (allowed: {known})")
        if isinstance(node, nodes.Test) and node.name not in _ENV.tests:
            raise TemplateInvalid(f"{where}unknown test {node.name!r}")


def _checked(source: str, part: str) -> _Checked:
    try:
        return _compile(source)
    except TemplateInvalid as exc:
        raise TemplateInvalid(f"the {part}: {exc}") from exc


def _variables(topic: str) -> frozenset[str]:
    try:
        return TOPICS[topic]
    except KeyError:
        raise TemplateInvalid(f"unknown topic {topic!r} (known: {', '.join(TOPICS)})") from None


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        known = ", ".join(CHANNELS)
        raise TemplateInvalid(f"channel {channel!r} has no templates (those that do: {known})")


def _check_shape(channel: str, body: str, subject: str | None) -> None:
    _check_channel(channel)
    if not body.strip():
        raise TemplateInvalid("the body is empty")
    if channel != "email":
        if subject is not None:
            raise TemplateInvalid(f"a subject is for email only, not {channel}")
        return
    if subject is None or not subject.strip():
        raise TemplateInvalid("an email needs a subject")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise TemplateInvalid(f"the subject is longer than {MAX_SUBJECT_CHARS} characters")
    if "\n" in subject or "\r" in subject:
        raise TemplateInvalid("the subject is one line")


def validate(topic: str, channel: str, body: str, subject: str | None) -> None:
    """Raise TemplateInvalid unless the template can be saved for this topic and channel."""
    allowed = _variables(topic)
    _check_shape(channel, body, subject)
    for part, source in (("body", body), ("subject", subject)):
        if source is None:
            continue
        unknown = sorted(_checked(source, part).names - allowed)
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(sorted(allowed))
            raise TemplateInvalid(f"the {part}: unknown variable {name!r} (known: {known}){hint}")


def render(template: Template, variables: Mapping[str, Any]) -> Rendered:
    """The template's words for these variables (every one it names must be there: see
    `variables_for`); TemplateInvalid when it cannot be rendered."""
    body = _checked(template.body, "body").template
    subject = None if template.subject is None else _checked(template.subject, "subject")
    values = dict(variables)
    try:
        text = body.render(values).strip()
        title = None if subject is None else subject.template.render(values)
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise TemplateInvalid(f"cannot render the template: {exc}") from exc
    # One line, whatever a value held: a newline in a subject would start a new mail header.
    return Rendered(text, None if title is None else " ".join(title.split()))


def variables_for(topic: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Every variable the topic knows, from a message's data; None where the data has none."""
    return {name: data.get(name) for name in _variables(topic)}


def default_template(topic: str, channel: str, language: str) -> Template:
    """Our words for a topic, channel and language (its base language, then English, when we
    have no words in it: "fr-CA" is "fr", "pt" is "en")."""
    _variables(topic)
    _check_channel(channel)
    return _default(topic, channel, tickets.base_language(language, LANGUAGES))


@lru_cache(maxsize=512)
def _default(topic: str, channel: str, language: str) -> Template:
    email = channel == "email"
    if topic == "summary":
        wording, short_end = alerts.SUMMARY[language], ""
    elif topic in alerts.ALERTS:
        wording, short_end = alerts.ALERTS[topic][language], alerts.ALERT_SUFFIX
    else:
        wording = TICKET_WORDS[topic][language]
        short_end = tickets.LINK if topic in tickets.LINKED else ""
    if topic in confirmations.STOPPABLE and channel in confirmations.REPLY_CHANNELS:
        short_end += confirmations.REPLY_STOP[language]  # how to stop: a reply to this number
    if not email:
        return Template(wording.text + short_end)
    if wording.email is not None:
        return Template(wording.email, wording.subject)
    if topic in alerts.ALERTS:
        return Template(wording.text + alerts.ALERT_EMAIL_SUFFIX, wording.subject)
    return Template(tickets.email_body(wording.text, language), wording.subject)


# Sample variables per topic: what a preview renders a template with.
SAMPLE: dict[str, dict[str, Any]] = {
    **{topic: {**tickets.SAMPLE, **moves.SAMPLE} for topic in TICKET_TOPICS},
    **{topic: dict(values) for topic, values in alerts.SAMPLES.items()},
}


def sample_variables(topic: str, language: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a preview renders with: the sample values, then the ones given; the counter's label
    follows the counter and the language, as in a real message, unless given too."""
    values = {**SAMPLE.get(topic, {}), **data}
    if "counter_label" in _variables(topic) and "counter_label" not in data:
        counter = values.get("counter")  # a preview's data may give any JSON value
        named = None if counter is None or isinstance(counter, bool) else str(counter)
        values["counter_label"] = tickets.counter_label(named, language)
    return variables_for(topic, values)
