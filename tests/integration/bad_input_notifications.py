"""The notification routes' share of test_bad_input.py: the valid requests its table starts from,
what they act on (built in tenant A, and tenant B's own for the other-tenant cases), the cases
only they have, and the tables a refused request must leave as they were.

No import of test_bad_input (it imports this): a case here is a `Spec`, which it turns into its
`Case` with the same `case()` every other case is made with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from notifications.templates import MAX_BODY_BYTES

# -- valid requests -----------------------------------------------------------------------------

PHONE = {"channel": "sms", "address": "+447700900123"}
EMAIL = {"channel": "email", "address": "jane@example.com"}
TEMPLATE = {
    "topic": "ahead",
    "channel": "sms",
    "language": "en",
    "body": "{{ number }}: {{ people_ahead }} to go",
}
PREVIEW = {"topic": "ahead", "channel": "sms"}
HOOK = {"url": "https://hooks.example.com/vq"}
ALERT = {"condition": "counter_idle", "channel": "email", "address": "boss@example.com"}
SCHEDULE = {
    "queue_id": "@main",
    "kind": "announcement",
    "recurrence": "daily",
    "local_time": "09:00",
    "time_zone": "UTC",
    "text": "We open at nine",
}
# Replaying since a time when nothing was sent succeeds without Kafka (nothing to put back).
REPLAY = {"since": "2020-01-01T00:00:00Z"}
ENDPOINT = {"endpoint_id": "endpoint"}

_PUSH_KEYS = {
    "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
    "auth": "tBHItJI5svbpez7KI4CCXg",
}


def _push(endpoint: str, **keys: str) -> dict[str, Any]:
    return {
        "channel": "push",
        "push_subscription": {"endpoint": endpoint, "keys": {**_PUSH_KEYS, **keys}},
    }


# -- the world's notification things ------------------------------------------------------------


class Caller(Protocol):
    ids: dict[str, str]

    async def call(self, method: str, path: str, key: str = "admin", **kwargs: Any) -> Any: ...


THINGS = ("subscription", "template", "endpoint", "alert", "schedule")
# Path parameter -> tenant B's own (for the other-tenant cases).
OTHER_TENANTS = {f"{thing}_id": f"b_{thing}" for thing in THINGS}


async def build(w: Caller) -> None:
    """In each tenant: one of each of THINGS (tenant B's named `b_...`); and in tenant A a
    cancelled subscription."""
    for prefix, key, ticket, queue in (
        ("", "admin", "waiting", "main"),
        ("b_", "other", "b_ticket", "b_queue"),
    ):
        subscriptions = f"/v1/tickets/{w.ids[ticket]}/subscriptions"
        made = await w.call("POST", subscriptions, key, json=PHONE)
        w.ids[f"{prefix}subscription"] = made["subscription_id"]
        made = await w.call("PUT", "/v1/templates", key, json=TEMPLATE)
        w.ids[f"{prefix}template"] = made["template_id"]
        made = await w.call("POST", "/v1/webhooks/endpoints", key, json=HOOK)
        w.ids[f"{prefix}endpoint"] = made["endpoint_id"]
        made = await w.call("POST", "/v1/alerts", key, json=ALERT)
        w.ids[f"{prefix}alert"] = made["alert_id"]
        made = await w.call(
            "POST", "/v1/schedules", key, json={**SCHEDULE, "queue_id": w.ids[queue]}
        )
        w.ids[f"{prefix}schedule"] = made["schedule_id"]
    made = await w.call("POST", f"/v1/tickets/{w.ids['waiting']}/subscriptions", json=EMAIL)
    w.ids["cancelled_subscription"] = made["subscription_id"]
    await w.call(
        "DELETE", f"/v1/tickets/{w.ids['waiting']}/subscriptions/{made['subscription_id']}"
    )
    w.ids["oversized_link"] = "t" * 129  # an opt-out link's token is at most 128 characters


# What a refused request must not have touched: every notification table, row by row (an update
# counts too: a rotated secret, a re-enabled endpoint, a cancelled subscription).
TABLES = (
    "subscriptions",
    "templates",
    "webhook_endpoints",
    "alert_rules",
    "schedules",
    "deliveries",
    "delivery_attempts",
    "queue_notify_defaults",
)
MEASURES = {
    table: f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {{}}.{table} t"
    for table in TABLES
}

# -- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """The arguments of test_bad_input's `case()`."""

    route: str
    name: str
    status: int
    problem: str
    options: dict[str, Any] = field(default_factory=dict)


def spec(route: str, name: str, status: int, problem: str, **options: Any) -> Spec:
    return Spec(route, name, status, problem, options)


INVALID = "invalid-transition"
RULE = "rule-violated"
V = "validation"


def _subscription_cases() -> list[Spec]:
    s = "subscribe"
    bad_bodies = {
        "phone-not-e164": {"channel": "sms", "address": "07700 900123"},
        "whatsapp-leading-zero": {"channel": "whatsapp", "address": "+0447700900123"},
        "sms-to-an-email-address": {"channel": "sms", "address": "jane@example.com"},
        "email-invalid": {"channel": "email", "address": "not an address"},
        "email-at-localhost": {"channel": "email", "address": "jane@localhost"},
        "push-without-subscription": {"channel": "push", "address": "+447700900123"},
        "push-keys-invalid": _push("https://fcm.googleapis.com/x", p256dh="B", auth="x"),
        "push-endpoint-ftp": _push("ftp://fcm.googleapis.com/x"),
        "channel-unknown": {"channel": "fax", "address": "+447700900123"},
        "missing-channel": {"address": "+447700900123"},
        "when-ahead-10": {**PHONE, "when": {"ahead": 10}},
        "when-eta-0": {**PHONE, "when": {"eta_minutes": 0}},
        "when-unknown-event": {**PHONE, "when": {"teleported": True}},
        "language-unknown": {**PHONE, "language": "xx"},
    }
    # A push endpoint is https, and never aimed inside: the document cannot say which hosts are.
    refused_pushes = {
        "push-on-http-to-a-public-host": "http://push.example.com/send/abc",
        "push-to-a-private-address": "https://10.0.0.1/send/abc",
        "push-to-loopback": "http://127.0.0.1:8080/send/abc",
    }
    return [
        *(
            spec(s, f"{t}-ticket", 409, INVALID, ids={"ticket_id": t})
            for t in ("served", "cancelled")
        ),
        spec(s, "token-of-another-ticket", 401, "unauthorized", key="token:called"),
        spec(
            s,
            "token-not-a-token",
            401,
            "unauthorized",
            key="no-key",
            headers={"X-Ticket-Token": "x"},
        ),
        spec(
            s,
            "by-token-served-ticket",
            409,
            INVALID,
            ids={"ticket_id": "served"},
            key="token:served",
        ),
        spec(
            s,
            "by-token-phone-not-e164",
            422,
            V,
            key="token:waiting",
            json=bad_bodies["phone-not-e164"],
        ),
        *(spec(s, name, 422, V, json=body) for name, body in bad_bodies.items()),
        *(spec(s, name, 409, RULE, json=_push(url)) for name, url in refused_pushes.items()),
        spec(
            s,
            "by-token-push-to-loopback",
            409,
            RULE,
            key="token:waiting",
            json=_push("http://127.0.0.1/x"),
        ),
        spec(
            "unsubscribe",
            "another-tickets-subscription",
            404,
            "not-found",
            ids={"ticket_id": "called"},
        ),
        spec(
            "unsubscribe",
            "already-cancelled",
            404,
            "not-found",
            ids={"subscription_id": "cancelled_subscription"},
        ),
        spec("unsubscribe", "token-of-another-ticket", 401, "unauthorized", key="token:called"),
        spec(
            "unsubscribe",
            "by-token-unknown-id",
            404,
            "not-found",
            key="token:waiting",
            ids={"subscription_id": "unknown"},
        ),
    ]


def _template_cases() -> list[Spec]:
    t, p = "put-template", "preview-template"
    email = {**TEMPLATE, "channel": "email"}
    bad_templates = {
        "topic-unknown": {**TEMPLATE, "topic": "weather"},
        "channel-unknown": {**TEMPLATE, "channel": "fax"},
        "language-invalid": {**TEMPLATE, "language": "english!"},
        "missing-body": {k: v for k, v in TEMPLATE.items() if k != "body"},
        "body-blank": {**TEMPLATE, "body": "   "},
        "body-oversized": {**TEMPLATE, "body": "b" * (MAX_BODY_BYTES + 1)},
        "email-without-subject": email,
        "subject-on-two-lines": {**email, "subject": "Hello\nthere"},
        "sms-with-subject": {**TEMPLATE, "subject": "Hello"},
        "queue-id-not-a-uuid": {**TEMPLATE, "queue_id": "main"},
    }
    # Checked when saved: a typo is refused, not a blank in an SMS. The schema cannot say which
    # text is a valid template, so these break a rule (409), not the document (422).
    bad_template_text = {
        "unknown-variable": {**TEMPLATE, "body": "{{ numbr }} is close"},
        "syntax-error": {**TEMPLATE, "body": "{% if number %}open"},
        "a-loop": {**TEMPLATE, "body": "{% for c in number %}{{ c }}{% endfor %}"},
        "attribute-access": {**TEMPLATE, "body": "{{ number.__class__ }}"},
        "a-call": {**TEMPLATE, "body": "{{ number() }}"},
    }
    bad_previews = {
        "data-unknown-variable": {**PREVIEW, "data": {"numbr": "A-1"}},
        "data-value-not-a-scalar": {**PREVIEW, "data": {"number": ["A-1"]}},
        "topic-unknown": {**PREVIEW, "topic": "weather"},
        "subject-on-sms": {**PREVIEW, "subject": "Hi"},
    }
    return [
        *(spec(t, name, 422, V, json=body) for name, body in bad_templates.items()),
        *(spec(t, name, 409, RULE, json=body) for name, body in bad_template_text.items()),
        *(spec(p, name, 422, V, json=body) for name, body in bad_previews.items()),
        spec(p, "unknown-variable", 409, RULE, json={**PREVIEW, "body": "{{ numbr }}"}),
        *(
            spec(route, f"{name}-queue", 404, "not-found", json={**body, "queue_id": f"@{queue}"})
            for route, body in ((t, TEMPLATE), (p, PREVIEW))
            for name, queue in (("other-tenants", "b_queue"), ("unknown", "unknown"))
        ),
    ]


def _webhook_cases() -> list[Spec]:
    c, u, r = "create-endpoint", "update-endpoint", "replay"
    # Aimed inside: refused by the server's rule (the document cannot say which hosts are inside).
    inside = {
        "url-on-loopback": "http://127.0.0.1/",
        "url-on-a-private-network": "http://10.0.0.1/hook",
        "url-on-ipv6-loopback": "https://[::1]:8443/",
        "url-on-link-local-metadata": "http://169.254.169.254/latest/meta-data",
        "url-on-localhost": "http://localhost:8080/",
        "url-on-loopback-as-one-number": "http://2130706433/",
        "url-port-out-of-range": "https://hooks.example.com:99999/",
        "url-port-zero": "https://hooks.example.com:0/",
        "url-on-fully-qualified-localhost": "http://localhost.:8080/",
        "url-on-loopback-through-nat64": "http://[64:ff9b::7f00:1]/",
        "url-on-metadata-through-6to4": "http://[2002:a9fe:a9fe::]/",
        "url-host-label-over-63": f"https://{'h' * 64}.example.com/",
        "url-host-over-253": f"https://{'.'.join(['h' * 60] * 5)}/",
    }
    bad = {
        "url-with-credentials": {"url": "https://user:secret@hooks.example.com/"},
        "url-ftp": {"url": "ftp://hooks.example.com/"},
        "url-with-fragment": {"url": "https://hooks.example.com/#top"},
        "rate-zero": {**HOOK, "rate_per_s": 0},
        "rate-over-1000": {**HOOK, "rate_per_s": 1001},
        "event-type-unknown": {**HOOK, "event_types": ["TicketTeleported"]},
        "event-type-twice": {**HOOK, "event_types": ["TicketCalled", "TicketCalled"]},
        "description-oversized": {**HOOK, "description": "d" * 501},
    }
    return [
        spec(c, "missing-url", 422, V, json={"description": "CRM"}),
        *(spec(c, name, 409, RULE, json={"url": url}) for name, url in inside.items()),
        *(spec(c, name, 422, V, json=body) for name, body in bad.items()),
        spec(u, "url-on-a-private-network", 409, RULE, json={"url": "http://10.1.2.3/"}),
        spec(u, "url-on-loopback", 409, RULE, json={"url": "http://127.0.0.1:9000/"}),
        spec(u, "url-ftp", 422, V, json={"url": "ftp://hooks.example.com/"}),
        spec(u, "rate-zero", 422, V, json={"rate_per_s": 0}),
        spec(u, "rate-as-text", 422, V, json={"rate_per_s": "5"}),
        spec(u, "rate-as-a-bool", 422, V, json={"rate_per_s": True}),
        spec(u, "event-type-unknown", 422, V, json={"event_types": ["TicketTeleported"]}),
        spec(r, "message-unknown", 404, "not-found", json={"message_id": "msg_nothing"}),
        spec(r, "empty-body", 422, V, json={}),
        spec(r, "message-and-since", 422, V, json={"message_id": "msg_x", **REPLAY}),
        spec(r, "message-id-empty", 422, V, json={"message_id": ""}),
        spec(r, "since-not-a-moment", 422, V, json={"since": "yesterday"}),
        # Found by schemathesis: a number was read as Unix seconds and replayed since 1970.
        spec(r, "since-a-number", 422, V, json={"since": 10000000.0}),
        spec(r, "dead-only-not-a-bool", 422, V, json={**REPLAY, "dead_only": "yes"}),
    ]


def _admin_cases() -> list[Spec]:
    a, s, n = "create-alert", "create-schedule", "notification-settings"
    bad_alerts = {
        "condition-unknown": {**ALERT, "condition": "on_fire"},
        "chat-to-an-email-address": {**ALERT, "channel": "chat"},
        "email-to-a-chat-url": {**ALERT, "address": "slack://a/b"},
        "missing-channel": {k: v for k, v in ALERT.items() if k != "channel"},
        "threshold-negative": {**ALERT, "threshold": -1},
        "threshold-not-a-number": {**ALERT, "threshold": "high"},
    }
    summary = {**SCHEDULE, "kind": "summary", "channel": "email", "address": "boss@example.com"}
    del summary["text"]
    once = {k: v for k, v in SCHEDULE.items() if k != "local_time"} | {"recurrence": "once"}
    bad_schedules = {
        "once-without-a-moment": once,
        "once-at-not-a-moment": {**once, "at": "tomorrow"},
        "local-time-25": {**SCHEDULE, "local_time": "25:00"},
        "time-zone-unknown": {**SCHEDULE, "time_zone": "Mars/Olympus"},
        "summary-without-channel": {k: v for k, v in summary.items() if k != "channel"},
        "summary-with-text": {**summary, "text": "hello"},
        "announcement-with-address": {**SCHEDULE, "address": "boss@example.com"},
        "kind-unknown": {**SCHEDULE, "kind": "fireworks"},
        "recurrence-weekly": {**SCHEDULE, "recurrence": "weekly"},
        "text-blank": {**SCHEDULE, "text": " "},
        "missing-queue": {k: v for k, v in SCHEDULE.items() if k != "queue_id"},
    }
    bad_settings = {
        "ahead-10": {"ahead": 10},
        "ahead-not-a-number": {"ahead": "three"},
        "eta-0": {"eta_minutes": 0},
        "eta-over-120": {"eta_minutes": 121},
        "feedback-url-ftp": {"feedback_url": "ftp://example.com/feedback"},
    }
    return [
        *(spec(a, name, 422, V, json=body) for name, body in bad_alerts.items()),
        *(spec(s, name, 422, V, json=body) for name, body in bad_schedules.items()),
        *(spec(n, name, 422, V, json=body) for name, body in bad_settings.items()),
        *(
            spec(route, f"{name}-queue", 404, "not-found", json={**body, "queue_id": f"@{queue}"})
            for route, body in ((a, ALERT), (s, SCHEDULE))
            for name, queue in (("other-tenants", "b_queue"), ("unknown", "unknown"))
        ),
        # The document cannot say "in the future": it depends on when the request comes.
        spec(s, "once-in-the-past", 409, RULE, json={**once, "at": "2020-01-01T09:00:00Z"}),
    ]


def _optout_cases() -> list[Spec]:
    """A link the deployment's secret did not make names nobody; a request Twilio did not sign
    (with the provider's auth token, over the public URL) is not heard."""
    o, i = "one-click-unsubscribe", "sms-inbound"
    twilio_example = "RSOYDt4T1cUTdK1PDd93/VVr8B8="  # the documentation's, for other values
    return [
        spec(o, "forged-link", 404, "not-found", ids={"token": "unknown"}),
        spec(o, "link-oversized", 422, V, ids={"token": "oversized_link"}),
        spec(i, "unsigned", 403, "signature-mismatch"),
        spec(
            i,
            "wrongly-signed",
            403,
            "signature-mismatch",
            headers={"X-Twilio-Signature": twilio_example},
        ),
    ]


SPECIFIC: list[Spec] = [
    *_subscription_cases(),
    *_template_cases(),
    *_webhook_cases(),
    *_admin_cases(),
    *_optout_cases(),
]
