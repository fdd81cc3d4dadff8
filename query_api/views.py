"""Read models as the API shows them, and the look-ups every read route shares."""

from __future__ import annotations

import uuid
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
