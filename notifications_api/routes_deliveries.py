"""What an endpoint was sent: a test ping, the delivery log (every attempt), and replays."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from http_api.auth import permission
from http_api.problems import ProblemError, problem_responses
from notifications.fanout import iso_utc
from notifications.messages import Message
from notifications.outlet import OutletUnavailable
from notifications.replay import replay
from notifications.store.log import delivery_log
from notifications_api.deps import EndpointId, ManagerDep, NotificationsDep, wall_clock
from notifications_api.models_webhooks import (
    DeliveryLogOut,
    DeliveryStatus,
    PingOut,
    ReplayIn,
    ReplayMessageIn,
    ReplayOut,
)
from notifications_api.routes_webhooks import owned
from notifications_api.views import delivery_out

router = APIRouter(prefix="/v1/webhooks/endpoints", tags=["notifications: webhooks"])

TEST_TOPIC = "webhook.test"
PING_TIMEOUT_S = 5.0


@router.post(
    "/{endpoint_id}/test",
    status_code=202,
    response_model=PingOut,
    responses=problem_responses("forbidden", "not-found"),
    summary="Send the endpoint a `webhook.test` message (see it in the delivery log)",
    openapi_extra=permission("webhooks:manage"),
)
async def test(endpoint_id: EndpointId, who: ManagerDep, notify: NotificationsDep) -> PingOut:
    endpoint = await owned(notify.pool, who.tenant_id, endpoint_id)
    now = wall_clock()
    message = Message(
        id=f"msg_{uuid.uuid4().hex}",
        tenant_id=who.tenant_id,
        channel="webhook",
        to=endpoint.endpoint_id,
        topic=TEST_TOPIC,
        created_at=now,
        order_key=endpoint.endpoint_id,
        data={
            "type": TEST_TOPIC,
            "timestamp": iso_utc(now),  # as events
            "data": {"endpoint_id": endpoint.endpoint_id},
        },
    )
    try:  # well within the request's deadline: a Kafka without the topic would take 10 s
        async with asyncio.timeout(PING_TIMEOUT_S):
            await notify.outlet.send([message])
    except TimeoutError:
        raise OutletUnavailable(f"the test message was not taken in {PING_TIMEOUT_S:g} s") from None
    return PingOut(message_id=message.id)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryLogOut,
    responses=problem_responses("forbidden", "not-found"),
    summary="The endpoint's delivery log: the newest messages, each with every attempt",
    openapi_extra=permission("webhooks:manage"),
)
async def deliveries(
    endpoint_id: EndpointId,
    who: ManagerDep,
    notify: NotificationsDep,
    status: Annotated[DeliveryStatus | None, Query(description="Only messages in this state")] = (
        None
    ),
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many messages")] = 50,
) -> DeliveryLogOut:
    endpoint = await owned(notify.pool, who.tenant_id, endpoint_id)
    logged = await delivery_log(
        notify.pool, who.tenant_id, endpoint.endpoint_id, status=status, limit=limit
    )
    return DeliveryLogOut(
        endpoint_id=endpoint.endpoint_id, deliveries=[delivery_out(m) for m in logged]
    )


@router.post(
    "/{endpoint_id}/replay",
    status_code=202,
    response_model=ReplayOut,
    responses=problem_responses("forbidden", "not-found", "malformed-request"),
    summary="Send again one message, or every message since a time (same ids: receivers dedupe)",
    openapi_extra=permission("webhooks:manage"),
)
async def replay_messages(
    endpoint_id: EndpointId,
    body: Annotated[ReplayIn, Body()],
    who: ManagerDep,
    notify: NotificationsDep,
) -> ReplayOut:
    endpoint = await owned(notify.pool, who.tenant_id, endpoint_id)
    if isinstance(body, ReplayMessageIn):
        count = await replay(
            notify.pool,
            notify.outlet,
            who.tenant_id,
            message_id=body.message_id,
            destination=endpoint.endpoint_id,
        )
        if count == 0:
            raise ProblemError("not-found", f"message {body.message_id} not found")
    else:
        count = await replay(
            notify.pool,
            notify.outlet,
            who.tenant_id,
            destination=endpoint.endpoint_id,
            since=body.since,
            dead_only=body.dead_only,
        )
    return ReplayOut(replayed=count)
