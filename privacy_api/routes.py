"""A person's data over HTTP: everything held about them, and erasure (crypto-shredding).

Staff with `personal-data:manage` (admins) find a person by a ticket, an e-mail address or a
phone number, given in the body (never in the URL: addresses are personal data, and URLs end up
in logs). The person acts on their own ticket with its token: `GET` and `DELETE
/v1/tickets/{id}/personal-data`. Answers are never cached.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from access.organisations import record_alone
from command_api.execution import TicketCallerDep, TicketId
from eventstore.pool import pooled
from http_api.auth import permission
from http_api.deps import PrincipalDep, Services, ServicesDep
from http_api.problems import ProblemError, problem_responses
from privacy.requests import Kind, erase, export, find_tickets
from privacy_api.models import (
    ByEmail,
    ByTicket,
    ErasureOut,
    PersonalDataOut,
    PersonIn,
    TicketDataOut,
)

router = APIRouter(tags=["personal data"])
MANAGE = "personal-data:manage"
_NO_STORE = {"Cache-Control": "no-store"}


def _named(body: PersonIn) -> tuple[Kind, str]:
    if isinstance(body, ByTicket):
        return "ticket", str(body.ticket_id)
    if isinstance(body, ByEmail):
        return "email", body.email
    return "phone", body.phone


async def _tickets(svc: Services, tenant_id: str, kind: Kind, value: str) -> list[str]:
    async with pooled(svc.pool) as conn:
        return await find_tickets(conn, svc.settings.secret_key, tenant_id, kind, value)


def _answer(model: BaseModel) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), headers=_NO_STORE)


async def _export(
    svc: Services, tenant_id: str, tickets: list[str], actor: str, by: Kind = "ticket"
) -> JSONResponse:
    """What is held about the person on `tickets`. Staff looking a person up is in the audit
    trail (`personal-data.exported`: who, when, which tickets, found by what; never the address
    itself, which the trail could not forget); the person reading their own is not."""
    if not actor.startswith("ticket:"):
        await record_alone(
            svc.pool,
            tenant_id=tenant_id,
            actor=actor,
            action="personal-data.exported",
            subject=",".join(tickets) or None,
            detail={"found_by": by, "tickets": len(tickets)},
        )
    held: list[Any] = await export(svc.pool, svc.settings.secret_key, tenant_id, tickets)
    return _answer(PersonalDataOut(tickets=[TicketDataOut.model_validate(t) for t in held]))


async def _erase(svc: Services, tenant_id: str, tickets: list[str], actor: str) -> JSONResponse:
    done = await erase(svc.pool, tenant_id, tickets, actor=actor, at=svc.queues.now())
    return _answer(
        ErasureOut(
            tickets=done.tickets,
            keys_destroyed=done.keys_destroyed,
            subscriptions_removed=done.subscriptions_removed,
        )
    )


@router.post(
    "/v1/personal-data/export",
    response_model=PersonalDataOut,
    responses=problem_responses("forbidden", "malformed-request"),
    summary="Everything held about a person (found by ticket, e-mail or phone)",
    openapi_extra=permission(MANAGE),
)
async def export_person(body: PersonIn, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """The details each of the person's tickets was taken with (opened; none once erased) and
    their notification subscriptions. No ticket found: an empty list."""
    who.require(MANAGE)
    kind, value = _named(body)
    tickets = await _tickets(svc, who.tenant_id, kind, value)
    return await _export(svc, who.tenant_id, tickets, who.actor, kind)


@router.post(
    "/v1/personal-data/erase",
    response_model=ErasureOut,
    responses=problem_responses("forbidden", "malformed-request"),
    summary="Erase a person (found by ticket, e-mail or phone): their keys destroyed",
    openapi_extra=permission(MANAGE),
)
async def erase_person(body: PersonIn, svc: ServicesDep, who: PrincipalDep) -> JSONResponse:
    """Destroys the key of each of the person's tickets (their details can never be opened
    again, from any copy of any event), removes their notification subscriptions and the log of
    messages sent to them, and records the erasure (ticket ids, who, when) in the audit trail.
    The tickets themselves, their numbers and times stay: the queues' history does not change.
    Erasing again changes nothing (`keys_destroyed` is empty)."""
    who.require(MANAGE)
    kind, value = _named(body)
    tickets = await _tickets(svc, who.tenant_id, kind, value)
    return await _erase(svc, who.tenant_id, tickets, who.actor)


_TICKET_ACCESS = permission("ticket-token", bearer=MANAGE)


async def _own_ticket(caller: Any, ticket_id: str) -> list[str]:
    found = await _tickets(caller.svc, caller.who.tenant_id, "ticket", ticket_id)
    if not found:
        raise ProblemError("not-found", f"ticket {ticket_id} not found")
    return found


@router.get(
    "/v1/tickets/{ticket_id}/personal-data",
    response_model=PersonalDataOut,
    responses=problem_responses("forbidden", "not-found"),
    summary="What is held about the person on this ticket (its token, or an admin)",
    openapi_extra=_TICKET_ACCESS,
)
async def ticket_personal_data(ticket_id: TicketId, caller: TicketCallerDep) -> JSONResponse:
    tickets = await _own_ticket(caller, str(ticket_id))
    return await _export(caller.svc, caller.who.tenant_id, tickets, caller.who.actor)


@router.delete(
    "/v1/tickets/{ticket_id}/personal-data",
    response_model=ErasureOut,
    responses=problem_responses("forbidden", "not-found"),
    summary="Erase the person's details on this ticket (its token, or an admin)",
    openapi_extra=_TICKET_ACCESS,
)
async def erase_ticket_personal_data(ticket_id: TicketId, caller: TicketCallerDep) -> JSONResponse:
    """The ticket keeps its place and number; the details given with it and its notification
    subscriptions are gone (so no message will reach the person any more)."""
    tickets = await _own_ticket(caller, str(ticket_id))
    return await _erase(caller.svc, caller.who.tenant_id, tickets, caller.who.actor)
