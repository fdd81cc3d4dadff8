"""Who may do what: the one permission table (rendered in the README by `vq access table`).

Every route declares one permission (its OpenAPI operation carries it as `x-permission`); a caller
may use the route when its role holds that permission, and an API key's scopes (when it has any)
hold it too. Customers have no role: they act on their own ticket through its token.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "manager", "staff", "kiosk", "display", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "manager", "staff", "kiosk", "display", "viewer")
# Roles people hold (devices hold kiosk and display keys; a viewer may be either).
PERSON_ROLES: tuple[Role, ...] = ("admin", "manager", "staff", "viewer")

# Routes anyone may call (health, the problem catalogue, sign-in itself): no credentials.
PUBLIC = "public"
# Routes a ticket's own token opens (or a key or user holding `tickets:operate`).
TICKET_TOKEN = "ticket-token"
# Routes any signed-in person may call about themselves (profile, MFA, sign-out).
SELF = "self"
# The deployment's operator (VQ_OPERATOR_KEY): making tenants over HTTP.
OPERATOR = "operator"

_ALL: frozenset[Role] = frozenset(ROLES)
_OFFICE: frozenset[Role] = frozenset({"admin", "manager"})
_COUNTER: frozenset[Role] = frozenset({"admin", "manager", "staff"})

# permission -> (the roles that hold it, what it allows)
PERMISSIONS: dict[str, tuple[frozenset[Role], str]] = {
    "read": (_ALL, "see queues, tickets, boards and live updates"),
    "tickets:enqueue": (_COUNTER | {"kiosk"}, "take a ticket for someone"),
    "tickets:operate": (
        _COUNTER,
        "call (the next or a given ticket), serve, recall, no-show, transfer",
    ),
    "queues:operate": (
        _COUNTER,
        "open, pause, resume and close a queue for the day; counters' breaks",
    ),
    "queues:manage": (
        _OFFICE,
        "create queues (or clone one), change their settings, merge and split them",
    ),
    "analytics:read": (_OFFICE | {"viewer"}, "see analytics and the dashboard"),
    "notifications:manage": (_OFFICE, "message templates, schedules, alerts, queue defaults"),
    "webhooks:manage": (frozenset({"admin"}), "webhook endpoints, their secrets and deliveries"),
    "keys:manage": (frozenset({"admin"}), "API keys: make, rotate, revoke"),
    "users:manage": (
        frozenset({"admin"}),
        "invite people, change their roles, deactivate or remove them",
    ),
    "settings:manage": (frozenset({"admin"}), "the organisation's security and sign-on settings"),
    "audit:read": (frozenset({"admin"}), "the audit trail"),
    "personal-data:manage": (
        frozenset({"admin"}),
        "a person's data: everything held about them, and erasure on request",
    ),
}

# Staff act only on the queues they are assigned to (when they have assignments).
QUEUE_BOUND: frozenset[str] = frozenset({"tickets:enqueue", "tickets:operate", "queues:operate"})


def holds(role: str, permission: str) -> bool:
    """Whether `role` holds `permission` (unknown roles and permissions hold nothing)."""
    found = PERMISSIONS.get(permission)
    return found is not None and role in found[0]


def permissions_of(role: str) -> frozenset[str]:
    return frozenset(name for name, (roles, _) in PERMISSIONS.items() if role in roles)


def table_markdown() -> str:
    """The table as the README shows it."""
    head = "| permission | what it allows | " + " | ".join(ROLES) + " |"
    rule = "|---|---|" + "---|" * len(ROLES)
    rows = [
        f"| `{name}` | {what} | "
        + " | ".join("yes" if role in roles else "" for role in ROLES)
        + " |"
        for name, (roles, what) in PERMISSIONS.items()
    ]
    return "\n".join([head, rule, *rows])
