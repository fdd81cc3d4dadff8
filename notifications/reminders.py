"""Reminders before a booking's slot: each subscription made with a booking gets one message,
`minutes` before the slot (store/reminders.py), on the schedules' loop (scheduling.py).

Its id is made of the subscription and the time it was due, so two replicas firing it make one
message (the delivery stage sends it once) and a booking moved to another slot reminds again.
Marked sent after Kafka has it: a replica that dies in between fires it again, under the same id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from notifications.messages import Message, channel
from notifications.outlet import Outlet
from notifications.queue_views import QueueViews
from notifications.store import reminders as store


def reminder_message(r: store.DueReminder, view: dict[str, Any], now: datetime) -> Message:
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
            "slot_date": local.date().isoformat(),
        },
    )


async def fire_reminders(
    pool: AsyncConnectionPool[Any], outlet: Outlet, names: QueueViews, now: datetime
) -> int:
    """Send every reminder due at `now` (whose slot has not begun); how many."""
    found = await store.due(pool, now)
    if not found:
        return 0
    views: dict[tuple[str, str], dict[str, Any]] = {}  # one read per queue, not per reminder
    messages = []
    for r in found:
        key = (r.tenant_id, r.queue_id)
        if key not in views:
            views[key] = await names.view(*key) or {}
        messages.append(reminder_message(r, views[key], now))
    await outlet.send(messages)
    await store.sent(pool, found)
    return len(found)
