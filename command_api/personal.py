"""A person's details at enqueue: sealed under a key of the ticket's own before the command is
given (privacy/), and that key dropped again when the command is refused."""

from __future__ import annotations

from command_api.execution import Caller
from domain.errors import Rejected
from domain.events import PersonalData
from http_api.problems import ProblemError
from privacy.keys import forget_unused, sealed_for
from privacy.sealing import Details
from service_layer.errors import IdempotencyKeyReused, NotAssigned, QueueBusy, VersionConflict

# What a refused enqueue raises: nothing was appended, so the key made for it names nobody.
REFUSED = (
    Rejected,
    ProblemError,
    VersionConflict,
    IdempotencyKeyReused,
    QueueBusy,
    NotAssigned,
)


async def seal_details(
    caller: Caller, queue_id: str, ticket_id: str, details: Details | None
) -> tuple[PersonalData | None, bool]:
    """The details sealed for `ticket_id`, and whether a key was made for it by this call (only
    such a key may be dropped again)."""
    if details is None:
        return None, False
    return await sealed_for(
        caller.svc.pool,
        caller.settings.secret_key,
        tenant_id=caller.who.tenant_id,
        queue_id=queue_id,
        ticket_id=ticket_id,
        details=details,
    )


async def drop_unused(caller: Caller, made: bool, ticket_id: str) -> None:
    """The key this request made for `ticket_id` when no ticket was made with it (a refusal, or
    a retry that answered the first request's ticket)."""
    if made:
        await forget_unused(caller.svc.pool, ticket_id)
