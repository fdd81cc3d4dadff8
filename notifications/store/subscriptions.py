"""Subscriptions as people manage them: who asked to be told what about one ticket.

The notifier reads the same rows (`watches.py`); `rules` is the contract between the two: a JSON
list of `{"kind": k, "threshold": t}`, with a threshold (an int) for `ahead` (people ahead) and
`eta` (seconds until the estimated call), null for the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from psycopg.types.json import Jsonb

from notifications.messages import Message
from notifications.rules import SUBSCRIBED, THRESHOLD_RULES, Moment, RuleKind
from notifications.store.db import Conn, Pool, changed, fetch_all, fetch_one, in_transaction
from notifications.store.defaults import get_notify_defaults
from notifications.store.watches import started_watch

# The rules a subscription may hold, in the order they are stored (the rules' own list).
RULE_KINDS: tuple[str, ...] = get_args(RuleKind)
THRESHOLD_KINDS = THRESHOLD_RULES
# The event rules and whether a person who says nothing about them gets them. The notifier
# follows the rules as stored: a subscription stored before `missed` and `moved` existed was
# given both by a migration (eventstore/migrations/0022), as their default is true, and so was
# `cancelled` (0026). `subscribed`
# is told once, as the subscription is made (notifications/confirmation.py): those made before it
# existed need nothing.
EVENT_DEFAULTS: dict[str, bool] = {
    "called": True,
    "recalled": True,
    "returned": True,
    "missed": True,
    "moved": True,
    "paused": True,
    "resumed": True,
    "closed": True,
    "served": False,
    "cancelled": True,
    SUBSCRIBED: True,
}

Rules = tuple[tuple[str, int | None], ...]

_COLUMNS = (
    "subscription_id::text, tenant_id::text, queue_id::text, ticket_id::text, channel, address, "
    "language, rules, created_at, cancelled_at"
)


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    tenant_id: str
    queue_id: str
    ticket_id: str
    channel: str
    address: str = field(repr=False)  # a person's contact: kept out of logs
    language: str
    rules: Rules
    created_at: datetime
    cancelled_at: datetime | None

    def threshold(self, kind: str) -> int | None:
        return next((t for k, t in self.rules if k == kind), None)

    def wants(self, kind: str) -> bool:
        return any(k == kind for k, _ in self.rules)


@dataclass(frozen=True, slots=True)
class Wish:
    """A person's request, before the queue's defaults fill in what it leaves out. `when` holds
    only what the person chose: `ahead` and `eta_minutes` (None: not wanted; absent: the queue's
    default) and the event rules by name (absent: EVENT_DEFAULTS)."""

    channel: str
    address: str = field(repr=False)
    language: str = "en"
    when: Mapping[str, Any] = field(default_factory=dict)


def checked_rules(rules: Iterable[tuple[str, int | None]]) -> Rules:
    """The rules, each kind once, in RULE_KINDS order; ValueError for one the notifier would not
    understand."""
    found: dict[str, int | None] = {}
    for kind, threshold in rules:
        if kind not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {kind!r}")
        if (kind in THRESHOLD_KINDS) != (threshold is not None):
            raise ValueError(f"rule {kind!r}: a threshold iff it is ahead or eta")
        if threshold is not None and threshold < 0:
            raise ValueError(f"rule {kind!r}: a threshold is not negative")
        found[kind] = threshold
    return tuple((kind, found[kind]) for kind in RULE_KINDS if kind in found)


def rules_for(when: Mapping[str, Any], *, ahead: int | None, eta_minutes: int | None) -> Rules:
    """The rules a wish asks for, `ahead` and `eta_minutes` being the queue's defaults."""
    people = when.get("ahead", ahead)
    minutes = when.get("eta_minutes", eta_minutes)
    rules: list[tuple[str, int | None]] = []
    if people is not None:
        rules.append(("ahead", int(people)))
    if minutes is not None:
        rules.append(("eta", int(minutes) * 60))  # the notifier counts in seconds
    rules.extend(
        (kind, None) for kind, default in EVENT_DEFAULTS.items() if when.get(kind, default)
    )
    return checked_rules(rules)


def _subscription(row: tuple[Any, ...]) -> Subscription:
    sid, tenant, queue, ticket, channel, address, language, rules, created_at, cancelled_at = row
    return Subscription(
        subscription_id=sid,
        tenant_id=tenant,
        queue_id=queue,
        ticket_id=ticket,
        channel=channel,
        address=address,
        language=language,
        rules=tuple((r["kind"], r.get("threshold")) for r in rules),
        created_at=created_at,
        cancelled_at=cancelled_at,
    )


# Live subscriptions one ticket may have: whoever holds a ticket's token can subscribe, and an
# SMS costs money; a person needs one per channel at most.
MAX_PER_TICKET = 4


class TooManySubscriptions(ValueError):
    """The ticket has MAX_PER_TICKET live subscriptions to other addresses already."""


# New subscriptions one address (an email, a phone number) may be given in a tenant within
# ADDRESS_WINDOW_S, to other tickets: whoever stands at a kiosk may type anybody's address, and a
# subscription sends at once when the line is short. A person takes a few tickets an hour at most.
MAX_PER_ADDRESS = 5
ADDRESS_WINDOW_S = 3600
# A push endpoint is the subscriber's own browser: nobody else's to flood.
COUNTED_CHANNELS = frozenset({"email", "sms", "whatsapp"})


class AddressBusy(ValueError):
    """An address was given MAX_PER_ADDRESS new subscriptions within the window; `retry_after_s`
    until the oldest of them leaves it."""

    def __init__(self, channel: str, retry_after_s: int) -> None:
        super().__init__(
            f"this {channel} address was given to {MAX_PER_ADDRESS} tickets in the last hour; "
            "try again later"
        )
        self.retry_after_s = retry_after_s


async def check_address_room(
    pool: Pool, tenant_id: str, wishes: Iterable[Wish], ticket_id: str | None = None
) -> None:
    """AddressBusy when one of the wishes' addresses has no room left for another ticket (its own
    ticket's subscriptions, `ticket_id`, are not counted: subscribing again changes nothing)."""
    counted = {(w.channel, w.address.lower()) for w in wishes if w.channel in COUNTED_CHANNELS}
    if not counted:
        return
    channels, addresses = zip(*sorted(counted), strict=True)
    row = await fetch_one(
        pool,
        """SELECT channel, ceil(extract(epoch FROM
                      min(created_at) + make_interval(secs => %s) - now()))::int
           FROM subscriptions
           -- ANY for the index (tenant_id, lower(address), created_at); the pairs below match
           -- each address with its own channel.
           WHERE tenant_id = %s AND lower(address) = ANY(%s)
             AND created_at > now() - make_interval(secs => %s)
             AND (channel, lower(address)) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
             AND ticket_id IS DISTINCT FROM %s::uuid
           GROUP BY channel, lower(address)
           HAVING count(*) >= %s
           LIMIT 1""",
        (ADDRESS_WINDOW_S, tenant_id, list(addresses), ADDRESS_WINDOW_S, list(channels),
         list(addresses), ticket_id, MAX_PER_ADDRESS),
    )  # fmt: skip
    if row is not None:
        raise AddressBusy(row[0], max(int(row[1]), 1))


# What a confirmation is made from: the subscription's id and its start (1: new, 2: made again
# after it was cancelled...), which numbers the message (confirmation.py `message_id`).
Confirmation = Callable[[str, int], Message]


async def create_subscription(
    pool: Pool,
    *,
    tenant_id: str,
    queue_id: str,
    ticket_id: str,
    channel: str,
    address: str,
    language: str,
    rules: Iterable[tuple[str, int | None]],
    told: Moment | None = None,
    confirmation: Confirmation | None = None,
    number: str | None = None,
) -> Subscription:
    """The ticket's subscription through this channel to this address, made or, when it exists,
    given these rules and language again: subscribing twice is one subscription. The caller has
    checked that the ticket is the tenant's.

    A new subscription, or one made again after it was cancelled (see `_restart`), starts:
    `confirmation` makes its confirmation, kept with it until the schedules stage sends it
    (store/confirmations.py); `told`, the ticket's place as that confirmation tells it, is where
    its watch starts (`Watch.told`); `number`, the ticket's as the command side knows it, is
    what its messages say until a moment names it (a ticket cancelled before the read side
    has it). A live one keeps its watch and makes no confirmation (a retried request, or new
    choices)."""
    checked = checked_rules(rules)
    stored = [{"kind": k, "threshold": t} for k, t in checked]
    subscription_id = str(uuid.uuid4())
    watch = started_watch(subscription_id, stored, told, {}, number)
    made = None if confirmation is None else confirmation(subscription_id, 1)
    async with in_transaction(pool) as conn:
        # New, or live (the same again): one statement. A cancelled one is left as it is here
        # (its conflicting row is locked, so a concurrent revival waits) and started again below.
        row = await fetch_one(
            conn,
            f"""INSERT INTO subscriptions AS s (subscription_id, tenant_id, queue_id, ticket_id,
                                               channel, address, language, rules, watch,
                                               confirmation)
                SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
                WHERE (SELECT count(*) FROM subscriptions
                       WHERE ticket_id = %s AND cancelled_at IS NULL
                         AND NOT (channel = %s AND address = %s)) < %s
                ON CONFLICT (ticket_id, channel, address) DO UPDATE SET
                    rules = EXCLUDED.rules, language = EXCLUDED.language,
                    queue_id = EXCLUDED.queue_id
                WHERE s.tenant_id = EXCLUDED.tenant_id AND s.cancelled_at IS NULL
                RETURNING {_COLUMNS}""",
            (subscription_id, tenant_id, queue_id, ticket_id, channel, address, language,
             Jsonb(stored), Jsonb(watch), None if made is None else Jsonb(made.record()),
             ticket_id, channel, address, MAX_PER_TICKET),
        )  # fmt: skip
        if row is None:  # the cap, or a cancelled subscription to start again
            wanted = _Wanted(
                tenant_id, queue_id, ticket_id, channel, address, language, stored, number
            )
            restarted = await _restart(conn, wanted, told, confirmation)
            if restarted is not None:
                return restarted
    return _made(row)


@dataclass(frozen=True, slots=True)
class _Wanted:
    tenant_id: str
    queue_id: str
    ticket_id: str
    channel: str
    address: str = field(repr=False)
    language: str
    rules: list[dict[str, Any]]
    number: str | None = None


def _made(row: tuple[Any, ...] | None) -> Subscription:
    if row is None:  # ticket ids are unique across tenants: the other reason is the cap
        raise TooManySubscriptions(
            f"a ticket has at most {MAX_PER_TICKET} subscriptions; cancel one to add another"
        )
    return _subscription(row)


async def _restart(
    conn: Conn, wanted: _Wanted, told: Moment | None, confirmation: Confirmation | None
) -> Subscription | None:
    """A cancelled subscription made again (after a STOP, an unsubscribe link, a DELETE): a new
    consent, which starts it as a new one would (its confirmation, its watch), under its id.
    Its crossings so far are kept (the rules name their messages by crossing: a "3 ahead" made
    again as `:ahead-3:1` would be taken for the one sent before, and not sent) and
    `fired["subscribed"]` counts its starts (a subscription from before counted none: 1).
    None when there is no such cancelled subscription (it is new, or live)."""
    found = await fetch_one(
        conn,
        """SELECT subscription_id::text, watch FROM subscriptions
           WHERE tenant_id = %s AND ticket_id = %s AND channel = %s AND address = %s
             AND cancelled_at IS NOT NULL
           FOR UPDATE""",
        (wanted.tenant_id, wanted.ticket_id, wanted.channel, wanted.address),
    )
    if found is None:
        return None
    subscription_id, state = found
    fired = {str(k): int(v) for k, v in ((state or {}).get("fired") or {}).items()}
    start = fired.get(SUBSCRIBED, 1) + 1
    fired[SUBSCRIBED] = start
    watch = started_watch(
        subscription_id, wanted.rules, told, fired, wanted.number or (state or {}).get("number")
    )
    made = None if confirmation is None else confirmation(subscription_id, start)
    row = await fetch_one(
        conn,
        f"""UPDATE subscriptions SET rules = %s, language = %s, queue_id = %s, watch = %s,
                                     confirmation = %s, cancelled_at = NULL
            WHERE subscription_id = %s
              AND (SELECT count(*) FROM subscriptions
                   WHERE ticket_id = %s AND cancelled_at IS NULL) < %s
            RETURNING {_COLUMNS}""",
        (Jsonb(wanted.rules), wanted.language, wanted.queue_id, Jsonb(watch),
         None if made is None else Jsonb(made.record()), subscription_id, wanted.ticket_id,
         MAX_PER_TICKET),
    )  # fmt: skip
    return _made(row)


async def subscribe(
    pool: Pool,
    tenant_id: str,
    queue_id: str,
    ticket_id: str,
    wish: Wish,
    told: Moment | None = None,
    confirmation: Confirmation | None = None,
    number: str | None = None,
) -> Subscription:
    """Store a person's wish on a ticket, the queue's defaults filling in what it leaves out;
    `told` and `confirmation` (see `create_subscription`) unless it turned confirmation off;
    `number`, the ticket's, when the caller knows it."""
    wanted = wish.when.get(SUBSCRIBED, EVENT_DEFAULTS[SUBSCRIBED])
    ahead = eta_minutes = None
    if "ahead" not in wish.when or "eta_minutes" not in wish.when:
        defaults = await get_notify_defaults(pool, tenant_id, queue_id)
        ahead, eta_minutes = defaults.ahead, defaults.eta_minutes
    return await create_subscription(
        pool,
        tenant_id=tenant_id,
        queue_id=queue_id,
        ticket_id=ticket_id,
        channel=wish.channel,
        address=wish.address,
        language=wish.language,
        rules=rules_for(wish.when, ahead=ahead, eta_minutes=eta_minutes),
        told=told if wanted else None,
        confirmation=confirmation if wanted else None,
        number=number,
    )


async def list_subscriptions(
    pool: Pool, tenant_id: str, ticket_id: str, *, include_cancelled: bool = False
) -> list[Subscription]:
    rows = await fetch_all(
        pool,
        f"""SELECT {_COLUMNS} FROM subscriptions
            WHERE tenant_id = %s AND ticket_id = %s AND (%s OR cancelled_at IS NULL)
            ORDER BY created_at, subscription_id""",
        (tenant_id, ticket_id, include_cancelled),
    )
    return [_subscription(row) for row in rows]


async def get_subscription(pool: Pool, tenant_id: str, subscription_id: str) -> Subscription | None:
    row = await fetch_one(
        pool,
        f"SELECT {_COLUMNS} FROM subscriptions WHERE tenant_id = %s AND subscription_id = %s",
        (tenant_id, subscription_id),
    )
    return None if row is None else _subscription(row)


async def cancel_subscription(
    pool: Pool, tenant_id: str, ticket_id: str, subscription_id: str
) -> bool:
    """False when the ticket has no such live subscription (or it is another tenant's)."""
    count = await changed(
        pool,
        """UPDATE subscriptions SET cancelled_at = now()
           WHERE tenant_id = %s AND ticket_id = %s AND subscription_id = %s
             AND cancelled_at IS NULL""",
        (tenant_id, ticket_id, subscription_id),
    )
    return count > 0
