"""A person's details at enqueue: sealed under a key of the ticket's own before the command is
given (privacy/), and that key dropped again when the command is refused."""

from __future__ import annotations

from command_api.execution import Caller
from domain.errors import Rejected
from domain.events import PersonalData
from http_api.problems import ProblemError
from privacy.keys import forget_unused, sealed_for
from privacy.sealing import Details
from service_layer.errors import IdempotencyKeyReused, QueueBusy, VersionConflict

# What a refused enqueue raises: nothing was appended, so the key made for it names nobody.
REFUSED = (Rejected, ProblemError, VersionConflict, IdempotencyKeyReused, QueueBusy)


async def seal_details(
    caller: Caller, queue_id: str, ticket_id: str, details: Details | None
) -> PersonalData | None:
    if details is None:
        return None
    return await sealed_for(
        caller.svc.pool,
        caller.settings.secret_key,
        tenant_id=caller.who.tenant_id,
        queue_id=queue_id,
        ticket_id=ticket_id,
        details=details,
    )


async def drop_unused(caller: Caller, personal: PersonalData | None, ticket_id: str) -> None:
    """The key made for `ticket_id` when no ticket was made with it (a refusal, or a retry that
    answered the first request's ticket)."""
    if personal is not None:
        await forget_unused(caller.svc.pool, ticket_id)
