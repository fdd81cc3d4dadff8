"""Read models as the API shows them, and the look-ups every read route shares."""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Any

from http_api.problems import ProblemError
from projections.estimates import shown
from projections.queries import QueueRead, ReadModels, StaleRead, TicketRead


def queue_out(queue: QueueRead, now: datetime) -> dict[str, Any]:
    estimate = shown(queue.newcomer, now)
    if estimate is not None and queue.newcomer is not None:
        estimate.update(ahead=queue.newcomer["ahead"], basis=queue.newcomer["basis"])
    return {**queue.view, "version": queue.version, "estimate": estimate}


# Views encoded lately, by identity (see queue_json): enough for every queue's latest batch.
_ENCODED_KEEP = 2048
_encoded: OrderedDict[int, tuple[dict[str, Any], str]] = OrderedDict()


def queue_json(queue: QueueRead, now: datetime) -> str:
    """`queue_out` as JSON text. A batch message's view is one object shared by every local
    follower of its queue (projections/fanout.py), so it is shown and encoded once per process,
    not once per follower (its wait range as of the first follower's instant)."""
    key = id(queue.view)
    hit = _encoded.get(key)
    if hit is not None and hit[0] is queue.view:
        return hit[1]
    text = json.dumps(queue_out(queue, now))
    _encoded[key] = (queue.view, text)  # the view is held, so its id is not reused meanwhile
    if len(_encoded) > _ENCODED_KEEP:
        _encoded.popitem(last=False)
    return text


def ticket_out(ticket: TicketRead, now: datetime) -> dict[str, Any]:
    """The ticket as the API shows it: the stored view (less its line key) and its place."""
    view = {k: v for k, v in ticket.view.items() if k != "line"}
    place = ticket.position
    return {
        **view,
        "queue_id": ticket.queue_id,
        "position": place,
        "people_ahead": None if place is None else place - 1,
        "estimate": shown(ticket.eta, now) if view.get("status") == "waiting" else None,
        "version": ticket.version,
    }


async def read_queue(
    models: ReadModels, tenant: str, queue_id: uuid.UUID, min_version: int | None, wait: float
) -> QueueRead:
    """The queue, once its read model reached `min_version`: 404 if the tenant has no such
    queue, 409 stale-read if the wait ran out first."""
    try:
        found = await models.queue_at(tenant, str(queue_id), min_version, wait)
    except StaleRead as behind:
        raise stale_read(min_version, behind.version) from None
    if found is None:
        raise not_found("queue", queue_id)
    return found


def not_found(kind: str, ident: uuid.UUID) -> ProblemError:
    return ProblemError("not-found", f"{kind} {ident} not found")


def stale_read(wanted: int | None, version: int) -> ProblemError:
    return ProblemError(
        "stale-read",
        f"the read model is at version {version}, not yet at {wanted}; retry",
        headers={"Retry-After": "1", "X-Stream-Version": str(version)},
        extensions={"version": version},
    )
