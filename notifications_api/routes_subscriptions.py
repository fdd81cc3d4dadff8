"""A person's subscriptions on their ticket, by the ticket's token (or a key of its tenant), and
the web push key a browser subscribes with; and (routes_optout.py) stopping them from the message
itself."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from command_api.models import SubscriptionIn, refuse_push_endpoints
from command_api.subscribing import confirming, refuse_busy_addresses
from http_api.auth import permission
from http_api.deps import Services, ServicesDep
from http_api.problems import ProblemError, problem_responses
from notifications.channels.vapid import application_server_key, vapid_keys
from notifications.confirmation import Subscribed, subscribe_and_confirm
from notifications.store.subscriptions import (
    TooManySubscriptions,
    cancel_subscription,
    list_subscriptions,
)
from notifications_api.deps import NotificationsDep, not_found
from notifications_api.models import SubscriptionList, SubscriptionOut, VapidKeyOut
from notifications_api.views import subscription_out
from query_api.deps import TicketId, TicketTenant, TicketWriterTenant

router = APIRouter(tags=["notifications: subscriptions"])

# A ticket that left has nothing more to be told (a no-show may still come back).
LEFT = frozenset({"served", "cancelled"})
SubscriptionId = Annotated[uuid.UUID, Path(description="The subscription's id")]


async def ticket_queue(svc: Services, tenant_id: str, ticket_id: uuid.UUID) -> str:
    """The queue that holds the tenant's ticket now; 404 for another tenant's or none.

    Asked of the system of record, not the read models: one who subscribes right after taking
    a ticket must find it, however far the read side is behind."""
    located = await svc.store.ticket_location(str(ticket_id))
    if located is None or located[0] != tenant_id:
        raise not_found("ticket", ticket_id)
    return located[1]


async def waiting_ticket(svc: Services, tenant_id: str, ticket_id: uuid.UUID) -> Subscribed:
    """As `ticket_queue`, the ticket as its subscriptions' confirmations name it; a 409 for a
    ticket that has left."""
    queue_id = await ticket_queue(svc, tenant_id, ticket_id)
    state = await svc.queues.load(tenant_id, queue_id)
    ticket = state.tickets.get(str(ticket_id))
    status = "finished" if ticket is None else ticket.status  # long finished: forgotten
    if ticket is None or status in LEFT:
        raise ProblemError(
            "invalid-transition",
            f"ticket {ticket_id} has left the queue ({status}): nothing to tell",
        )
    return Subscribed(tenant_id, queue_id, str(ticket_id), state.config.name, ticket.number)


@router.post(
    "/v1/tickets/{ticket_id}/subscriptions",
    status_code=201,
    response_model=SubscriptionOut,
    responses=problem_responses(
        "not-found", "invalid-transition", "rule-violated", "rate-limited", "malformed-request"
    ),
    summary="Be told about this ticket (its token, or a key of its tenant)",
    openapi_extra=permission("ticket-token", bearer="tickets:enqueue"),
)
async def create(
    ticket_id: TicketId,
    tenant: TicketWriterTenant,
    body: Annotated[SubscriptionIn, Body()],
    svc: ServicesDep,
    notify: NotificationsDep,
) -> SubscriptionOut:
    """Subscribing again with the same channel and address replaces that subscription's
    choices (and revives it if it was cancelled). A new subscription, or a revived one (a new
    consent), is told at once where the ticket stands (`when.subscribed`)."""
    refuse_push_endpoints([body], notify.guard)
    ticket = await waiting_ticket(svc, tenant, ticket_id)
    await refuse_busy_addresses(notify.pool, tenant, [body.wish()], str(ticket_id))
    try:
        [found] = await subscribe_and_confirm(confirming(svc, notify.pool), ticket, [body.wish()])
    except TooManySubscriptions as exc:
        raise ProblemError("rule-violated", str(exc)) from None
    return subscription_out(found)


@router.get(
    "/v1/tickets/{ticket_id}/subscriptions",
    response_model=SubscriptionList,
    responses=problem_responses("not-found"),
    summary="This ticket's subscriptions (addresses masked)",
    openapi_extra=permission("ticket-token", bearer="read"),
)
async def list_(
    ticket_id: TicketId, tenant: TicketTenant, svc: ServicesDep, notify: NotificationsDep
) -> SubscriptionList:
    await ticket_queue(svc, tenant, ticket_id)
    found = await list_subscriptions(notify.pool, tenant, str(ticket_id))
    return SubscriptionList(subscriptions=[subscription_out(s) for s in found])


@router.delete(
    "/v1/tickets/{ticket_id}/subscriptions/{subscription_id}",
    status_code=204,
    responses=problem_responses("not-found"),
    summary="Stop being told",
    openapi_extra=permission("ticket-token", bearer="tickets:enqueue"),
)
async def cancel(
    ticket_id: TicketId,
    subscription_id: SubscriptionId,
    tenant: TicketWriterTenant,
    notify: NotificationsDep,
) -> Response:
    if not await cancel_subscription(notify.pool, tenant, str(ticket_id), str(subscription_id)):
        raise not_found("subscription", subscription_id)
    return Response(status_code=204)


@router.get(
    "/v1/push/vapid-public-key",
    response_model=VapidKeyOut,
    responses=problem_responses(common=("service-unavailable",)),
    summary="The key a browser subscribes to web push with (no key needed)",
    openapi_extra=permission("public"),
)
async def vapid_public_key(svc: ServicesDep) -> VapidKeyOut:
    # A file read (and, the first time ever, a key made and written): off the event loop.
    key = await asyncio.to_thread(vapid_keys, svc.settings)
    return VapidKeyOut(public_key=application_server_key(key))
