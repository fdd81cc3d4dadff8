"""A day played on a queue an earlier run made (`LiveOptions.queue_id`), not on a new one.

`vq run`'s demo plays a day on its accelerated clock each time it starts, on the same queue, so
that its history (the dashboard's weeks, the estimates' accuracy, the bottlenecks judged against
past weeks) grows from run to run instead of a new queue of the same name each time. A run
stopped midway leaves its day behind: people waiting, called, at a counter, the queue open. They
are ended first, through the API as staff would end them (a cancel, a no-show, a completion, a
close), so the world's day starts on a closed queue with nobody in it, as it would on a new one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from core.clock import utcnow
from core.settings import Settings
from domain.config import QueueConfig
from domain.errors import Rejected
from domain.state import QueueState
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from service_layer.queues import QueueService

# Why the leftovers of an earlier day were ended (the cancel's reason, the close's).
REASON = "the simulation starts a new day"

Call = Callable[..., Awaitable[httpx.Response]]


@dataclass(frozen=True, slots=True)
class Ending:
    kind: str  # as the driver counts what it sent
    path: str
    body: dict[str, Any] | None = None


async def playable(settings: Settings, queue_id: str, tenant_id: str, config: QueueConfig) -> bool:
    """Whether the system of record (the read side may lag) holds this queue of the tenant and
    a day of `config` can be played on it (`fits`): else the caller makes another."""
    pool = await open_pool(settings, min_size=1, max_size=1, wait=True)
    try:
        state = await queue_state(PostgresEventStore(pool), tenant_id, queue_id)
    finally:
        await pool.close()
    return state is not None and fits(state, config)


async def queue_state(
    store: PostgresEventStore, tenant_id: str, queue_id: str
) -> QueueState | None:
    """The tenant's queue as the system of record says (not the read models), as a command
    loads it (its newest snapshot, then the events after it); None: no such queue of the
    tenant."""
    try:
        return await QueueService(store, utcnow, snapshot_every=None).load(tenant_id, queue_id)
    except Rejected:
        return None


def fits(state: QueueState, config: QueueConfig) -> bool:
    """Whether the world can play `config`'s day on this queue: it has the counters, service
    types and priority classes the world sends commands for."""
    held = state.config
    return (
        set(config.counters) <= set(held.counters)
        and set(config.service_types) <= set(held.service_types)
        and set(config.priority_classes) <= set(held.priority_classes)
    )


def endings(state: QueueState) -> list[Ending]:
    """What ends the earlier day: each ticket called is a no-show, each one served is served,
    each one waiting is cancelled (in line order), then the queue closes if it is not closed."""
    queue = f"/v1/queues/{state.queue_id}"
    done: list[Ending] = []
    for ticket_id in (t for held in state.at_counters.values() for t in held):
        ticket = state.tickets[ticket_id]
        if ticket.status == "called":
            done.append(Ending("no-show", f"/v1/tickets/{ticket_id}/no-show"))
        elif ticket.status == "serving":
            done.append(Ending("complete", f"/v1/tickets/{ticket_id}/complete"))
    for key in list(state.waiting):
        ticket_id = key[-1]
        done.append(Ending("cancel", f"/v1/tickets/{ticket_id}/cancel", {"reason": REASON}))
    if state.status != "closed":
        done.append(Ending("close", f"{queue}/close", {"reason": REASON}))
    return done


async def end_earlier_day(state: QueueState, call: Call, key: str) -> dict[str, int]:
    """Send `endings(state)` with the staff's `key`; how many of each were accepted. A refusal
    (another client ended that ticket meanwhile) leaves it as it is."""
    accepted: dict[str, int] = {}
    for ending in endings(state):
        answer = await call("POST", ending.path, key, json=ending.body)
        if answer.status_code < 400:
            accepted[ending.kind] = accepted.get(ending.kind, 0) + 1
    return accepted
