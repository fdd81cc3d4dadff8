"""Writes read models to Redis, each batch atomic and applied at most once.

A batch of one queue's events is one Lua script run: it checks the queue's stored version, runs
the batch's commands and stores the new version, all at once. A batch at or below the stored
version changes nothing (Kafka redelivery, a second worker during a rebalance); a batch that does
not start where the stored version ends is refused, so the caller repairs the gap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import redis.asyncio as aioredis

from domain.state import QueueState
from observability import tracing
from projections.estimates import NEWCOMER, QueueEstimates
from projections.layout import Keys
from projections.views import compact, dumps, line_member, queue_view, ticket_view

Command = tuple[str, ...]

# ARGV: mode, first, last, then commands as (argc, name, args...). mode "next": apply only when
# the stored version is `first`; mode "replace": apply whenever it is below `last`; mode "force":
# apply whatever is stored (an operator's rebuild).
# Returns {1, stored} when applied, {0, stored} when already there, {-1, stored} on a gap.
_APPLY = """
local meta = KEYS[1]
local mode = ARGV[1]
local first = tonumber(ARGV[2])
local last = tonumber(ARGV[3])
local stored = tonumber(redis.call('HGET', meta, 'version') or '0')
if mode ~= 'force' and stored >= last then return {0, stored} end
if mode == 'next' and stored ~= first then return {-1, stored} end
local i = 4
while i <= #ARGV do
  local argc = tonumber(ARGV[i])
  local name = ARGV[i + 1]
  if name == 'CLEARQUEUE' then
    -- line key, index key, ticket key prefix: forget every view of the queue
    local index = ARGV[i + 3]
    for _, ticket in ipairs(redis.call('SMEMBERS', index)) do
      redis.call('DEL', ARGV[i + 4] .. ticket)
    end
    redis.call('DEL', ARGV[i + 2], index)
  else
    redis.call(unpack(ARGV, i + 1, i + argc))
  end
  i = i + argc + 1
end
redis.call('HSET', meta, 'version', last)
return {1, stored}
"""

CHUNK = 500  # members per ZADD/SADD in a full render (Lua's unpack has a stack limit)
# Batches a queue keeps for followers that reconnect (replay.py), and how long an idle queue's
# are kept: a follower away longer, or from a busier queue, gets the current view instead.
RECENT = 200
RECENT_TTL_S = 3600
# What a change keeps for replay (the line's moves and the ticket's own status, before/after).
_REPLAYED = ("version", "type", "ticket_id", "status", "counter", "left", "joined")
_REPLAYED_OWN = ("was", "was_counter")


@dataclass(slots=True)
class Batch:
    """Commands that take one queue's read model from version `first` to `last`."""

    tenant: str
    queue: str
    first: int
    last: int
    commands: list[Command] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Applied:
    applied: bool
    stored: int  # the version Redis had before
    gap: bool


def ticket_commands(
    keys: Keys, state: QueueState, estimates: QueueEstimates, ticket_id: str
) -> list[Command]:
    """Commands that write one ticket's view, or drop it when the state no longer holds it."""
    tenant, queue = state.tenant_id, state.queue_id
    ticket = state.tickets.get(ticket_id)
    if ticket is None:
        return [
            ("DEL", keys.ticket(tenant, queue, ticket_id)),
            ("SREM", keys.ticket_index(tenant, queue), ticket_id),
        ]
    commands: list[Command] = [
        (
            "SET",
            keys.ticket(tenant, queue, ticket_id),
            dumps(ticket_view(state, ticket, estimates.facts(ticket_id))),
        ),
        ("SADD", keys.ticket_index(tenant, queue), ticket_id),
    ]
    if ticket.enqueued_here:
        commands.append(("SET", keys.home(tenant, ticket_id), queue))
    return commands


def meta_commands(keys: Keys, state: QueueState, estimates: QueueEstimates) -> list[Command]:
    """The queue's view, its place in the tenant's list, its estimators' accuracy and the
    summary's wait range."""
    view, newcomer = dumps(queue_view(state)), estimates.newcomer(state)
    return summary_commands(keys, state, estimates, view, newcomer)


def summary_commands(
    keys: Keys,
    state: QueueState,
    estimates: QueueEstimates,
    view: str,
    newcomer: dict[str, Any] | None,
) -> list[Command]:
    """`meta_commands` with the view (encoded) and the summary's range made already (the
    batch's live message carries both)."""
    tenant, queue = state.tenant_id, state.queue_id
    return [
        ("HSET", keys.queue(tenant, queue), "view", view),
        registration(keys, state),
        ("SET", keys.accuracy(tenant, queue), dumps(estimates.accuracy(state))),
        ("HDEL", keys.eta(tenant, queue), NEWCOMER)
        if newcomer is None
        else ("HSET", keys.eta(tenant, queue), NEWCOMER, dumps(newcomer)),
    ]


def eta_commands(
    keys: Keys, state: QueueState, fresh: dict[str, dict[str, Any]], dropped: set[str]
) -> list[Command]:
    """Write the ranges a batch recomputed; forget those of tickets that left the line."""
    eta = keys.eta(state.tenant_id, state.queue_id)
    commands: list[Command] = [("HDEL", eta, *chunk) for chunk in _chunks(sorted(dropped))]
    pairs = [item for ticket_id in fresh for item in (ticket_id, dumps(fresh[ticket_id]))]
    commands.extend(("HSET", eta, *chunk) for chunk in _chunks(pairs))
    return commands


def recent_commands(
    keys: Keys, state: QueueState, changes: Sequence[dict[str, Any]]
) -> list[Command]:
    """Append the batch's changes (compact) to the queue's bounded list of recent batches."""
    kept = [
        {name: change[name] for name in _REPLAYED + _REPLAYED_OWN if change.get(name) is not None}
        for change in changes
    ]
    key = keys.recent(state.tenant_id, state.queue_id)
    return [
        ("RPUSH", key, compact({"version": state.version, "changes": kept})),
        ("LTRIM", key, str(-RECENT), "-1"),
        ("EXPIRE", key, str(RECENT_TTL_S)),
    ]


def publish_command(
    keys: Keys,
    tenant: str,
    queue: str,
    message: dict[str, Any],
    view: str | None = None,
    tickets: Mapping[str, str] | None = None,
) -> Command:
    """The batch's message to the queue's live followers (projections/fanout.py), published by
    the batch's own write: with the batch's trace context (tracing on). `view`: the message's
    view encoded already (as the read model stores it), added last, not encoded again;
    `tickets`: the views (encoded) of the tickets the batch changed, by id, so that their
    followers need not read them back (query_api/ticket_stream.py)."""
    if view is None:
        return ("PUBLISH", keys.changes(tenant, queue), compact(tracing.stamped(message)))
    rest = compact(tracing.stamped({k: v for k, v in message.items() if k != "view"}))
    own = ", ".join(f"{compact(ticket)}: {found}" for ticket, found in (tickets or {}).items())
    return (
        "PUBLISH",
        keys.changes(tenant, queue),
        f'{rest[:-1]}, "tickets": {{{own}}}, "view": {view}}}',
    )


def registration(keys: Keys, state: QueueState) -> Command:
    """The queue in its tenant's list, ordered by creation time (from its own event)."""
    created = state.created_at.astimezone(UTC).timestamp() if state.created_at else 0.0
    return ("ZADD", keys.queues(state.tenant_id), repr(created), state.queue_id)


def full_render(keys: Keys, state: QueueState, estimates: QueueEstimates) -> list[Command]:
    """Every command that writes the queue's whole read model from scratch, but for the wait
    ranges, which the stream processors keep up one by one (a rebuild writes them whole)."""
    tenant, queue = state.tenant_id, state.queue_id
    commands: list[Command] = [
        (
            "CLEARQUEUE",
            keys.line(tenant, queue),
            keys.ticket_index(tenant, queue),
            keys.ticket_prefix(tenant, queue),
        ),
    ]
    members = [line_member(state, state.tickets[key[3]]) for key in state.waiting]
    for chunk in _chunks(members):
        commands.append(("ZADD", keys.line(tenant, queue), *_zero_scored(chunk)))
    for ticket_id in state.tickets:
        commands.extend(ticket_commands(keys, state, estimates, ticket_id))
    commands.extend(meta_commands(keys, state, estimates))
    return commands


def _zero_scored(members: Sequence[str]) -> Iterator[str]:
    for member in members:
        yield "0"
        yield member


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class ReadModelWriter:
    def __init__(self, client: aioredis.Redis, keys: Keys) -> None:
        self._redis = client
        self._keys = keys
        self._script = client.register_script(_APPLY)

    async def apply(self, batch: Batch, *, replace: bool = False, force: bool = False) -> Applied:
        mode = "force" if force else "replace" if replace else "next"
        argv: list[str | int] = [mode, batch.first, batch.last]
        for command in batch.commands:
            argv.append(len(command))
            argv.extend(command)
        result = await self._script(keys=[self._keys.queue(batch.tenant, batch.queue)], args=argv)
        status, stored = int(result[0]), int(result[1])
        return Applied(applied=status == 1, stored=stored, gap=status == -1)

    async def stored_version(self, tenant: str, queue: str) -> int:
        value = await self._redis.hget(self._keys.queue(tenant, queue), "version")
        return int(value) if value is not None else 0

    async def stored_versions(self, queues: Sequence[tuple[str, str]]) -> list[int]:
        """`stored_version` of each (tenant, queue), in one round trip (a pipeline)."""
        if not queues:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for tenant, queue in queues:
            pipe.hget(self._keys.queue(tenant, queue), "version")
        return [int(value) if value is not None else 0 for value in await pipe.execute()]
