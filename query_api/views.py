"""Read models as the API shows them, and the look-ups every read route shares."""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from http_api.problems import ProblemError
from projections.estimates import shown, shown_joining
from projections.queries import QueueRead, ReadModels, StaleRead, TicketRead
from projections.read_side import ReadSide


def queue_out(queue: QueueRead, now: datetime) -> dict[str, Any]:
    estimate = shown_joining(queue.newcomer, now)
    if estimate is not None and queue.newcomer is not None:
        estimate.update(ahead=queue.newcomer["ahead"], basis=queue.newcomer["basis"])
    return {**queue.view, "version": queue.version, "estimate": estimate}


class _Encoded:
    """A view as sent: its JSON text, and its SSE event once a stream asked for it."""

    __slots__ = ("event", "text", "view")

    def __init__(self, view: dict[str, Any], text: str) -> None:
        self.view = view  # held, so its id is not reused while it is cached
        self.text = text
        self.event: bytes | None = None


# Views encoded lately, by identity (see queue_text): enough for every queue's latest batch.
_ENCODED_KEEP = 2048
_encoded: OrderedDict[int, _Encoded] = OrderedDict()


def _encode(
    queue_id: str,
    version: int,
    view: dict[str, Any],
    newcomer: dict[str, Any] | None,
    now: Callable[[], datetime],
) -> _Encoded:
    hit = _encoded.get(id(view))
    if hit is not None and hit.view is view:
        return hit
    text = json.dumps(queue_out(QueueRead(queue_id, version, view, newcomer), now()))
    found = _encoded[id(view)] = _Encoded(view, text)
    if len(_encoded) > _ENCODED_KEEP:
        _encoded.popitem(last=False)
    return found


def queue_text(
    queue_id: str,
    version: int,
    view: dict[str, Any],
    newcomer: dict[str, Any] | None,
    now: Callable[[], datetime],
) -> str:
    """`queue_out` of a QueueRead's fields as JSON text. A batch message's view is one object
    shared by every local follower of its queue (projections/fanout.py), so it is shown and
    encoded once per process, not once per follower (its wait range as of the first follower's
    instant: `now` is asked only then)."""
    return _encode(queue_id, version, view, newcomer, now).text


def queue_event(
    queue_id: str,
    version: int,
    view: dict[str, Any],
    newcomer: dict[str, Any] | None,
    now: Callable[[], datetime],
) -> bytes:
    """`queue_text` as one Server-Sent Event (`id:` the version, `event: queue`, `data:` the
    JSON), encoded once per process too: the same bytes for every local follower of a batch."""
    found = _encode(queue_id, version, view, newcomer, now)
    if found.event is None:
        found.event = f"id: {version}\nevent: queue\ndata: {found.text}\n\n".encode()
    return found.event


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
        "queue_status": ticket.queue_status if view.get("status") == "waiting" else None,
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


def status_event(read_side: ReadSide) -> bytes:
    """The read side's state as one Server-Sent Event (`event: status`, no `id:`: it is not a
    version of anything): `{"read_side": "delayed", "since": ...}` or `{"read_side": "current"}`."""
    return f"event: status\ndata: {json.dumps(_status(read_side))}\n\n".encode()


def status_text(read_side: ReadSide) -> str:
    """The read side's state as a WebSocket's JSON text frame: `status_event`'s data with
    `"type": "status"` (a view has no `type`), `{"type": "status", "read_side": "delayed",
    "since": ...}` or `{"type": "status", "read_side": "current"}`."""
    return json.dumps({"type": "status", **_status(read_side)})


def _status(read_side: ReadSide) -> dict[str, Any]:
    since = read_side.delayed_since
    if since is None:
        return {"read_side": "current"}
    return {"read_side": "delayed", "since": since.isoformat().replace("+00:00", "Z")}
