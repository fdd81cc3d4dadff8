"""Reminders before a booking's slot: each subscription made with a booking gets one message,
`minutes` before the slot (store/reminders.py), on the schedules' loop (scheduling.py).

Its id is made of the subscription and the time it was due, so two replicas firing it make one
message (the delivery stage sends it once) and a booking moved to another slot reminds again.
Marked sent after Kafka has it: a replica that dies in between fires it again, under the same id.

It carries the booking's page (`/t/<booking id>`, where the person checks in or cancels) without
its token, as a ticket's message does: the delivery stage adds `#token=` when it sends (the
booking's id is its ticket's, and so is its token). The slot is told in the queue's time zone,
the day as the message's language writes it ("6 décembre"), not as an ISO date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from notifications.default_templates import base_language
from notifications.messages import Message, channel
from notifications.outlet import Outlet
from notifications.queue_views import QueueViews
from notifications.store import reminders as store

# The months as each language names them; a language we have no words in gets English's, as
# `templates.default_template` picks the words.
MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        *("January", "February", "March", "April", "May", "June", "July", "August"),
        *("September", "October", "November", "December"),
    ),
    "fr": (
        *("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août"),
        *("septembre", "octobre", "novembre", "décembre"),
    ),
    "de": (
        *("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August"),
        *("September", "Oktober", "November", "Dezember"),
    ),
    "es": (
        *("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto"),
        *("septiembre", "octubre", "noviembre", "diciembre"),
    ),
}


def day_words(day: date, language: str, channel_name: str = "email") -> str:
    """The day as the language writes it in a sentence: "December 6", "6 décembre" ("1er" for
    the first), "6. Dezember", "6 de diciembre". In an SMS, "aout" (the 1990 spelling): the "û"
    of "août" is not in the GSM 7-bit alphabet and would make the whole SMS UCS-2."""
    base = base_language(language, MONTHS)
    month = MONTHS[base][day.month - 1]
    if base == "en":
        return f"{month} {day.day}"
    if base == "de":
        return f"{day.day}. {month}"
    if base == "es":
        return f"{day.day} de {month}"
    words = f"{'1er' if day.day == 1 else day.day} {month}"
    return words.replace("û", "u") if channel_name == "sms" else words


def reminder_message(
    r: store.DueReminder, view: dict[str, Any], now: datetime, public_url: str
) -> Message:
    local = r.slot_at.astimezone(ZoneInfo(r.time_zone))
    return Message(
        id=f"rem:{r.subscription_id}:{int(r.due_at.timestamp())}",
        tenant_id=r.tenant_id,
        channel=channel(r.channel),
        to="",  # read from the subscription when sent
        topic="reminder",
        created_at=now,
        order_key=r.ticket_id,
        language=r.language,
        queue_id=r.queue_id,
        ticket_id=r.ticket_id,
        subscription_id=r.subscription_id,
        data={
            "queue_name": str(view.get("name") or r.queue_name),
            "slot_time": local.strftime("%H:%M"),
            "slot_date": day_words(local.date(), r.language, r.channel),
            "slot_at": r.slot_at.astimezone(UTC).isoformat(),  # not sent once begun (obsolete.py)
            # The booking's page, without its token: see the module's docstring.
            "ticket_url": f"{public_url.rstrip('/')}/t/{r.ticket_id}",
        },
    )


async def fire_reminders(
    pool: AsyncConnectionPool[Any],
    outlet: Outlet,
    names: QueueViews,
    now: datetime,
    public_url: str,
) -> int:
    """Send every reminder due at `now` (whose slot has not begun); how many. `public_url` is
    where the booking pages are (VQ_PUBLIC_URL)."""
    found = await store.due(pool, now)
    if not found:
        return 0
    views: dict[tuple[str, str], dict[str, Any]] = {}  # one read per queue, not per reminder
    messages = []
    for r in found:
        key = (r.tenant_id, r.queue_id)
        if key not in views:
            views[key] = await names.view(*key) or {}
        messages.append(reminder_message(r, views[key], now, public_url))
    await outlet.send(messages)
    await store.sent(pool, found)
    return len(found)
