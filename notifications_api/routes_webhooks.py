"""A tenant's webhook endpoints: register, change, remove, disable and enable, and their secrets."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Body
from fastapi.responses import Response

from access.organisations import record
from http_api.auth import Principal, permission
from http_api.problems import problem_responses
from notifications.store.db import Conn, Db, in_transaction
from notifications.store.endpoints import (
    Endpoint,
    create_endpoint,
    delete_endpoint,
    disable_by_hand,
    enable_endpoint,
    get_endpoint,
    list_endpoints,
    rotate_secret,
    update_endpoint,
)
from notifications_api.deps import (
    REFUSED_URL,
    EndpointId,
    ManagerDep,
    NotificationsDep,
    check_url,
    not_found,
    wall_clock,
)
from notifications_api.models_webhooks import (
    EndpointCreatedOut,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatchIn,
    SecretOut,
)
from notifications_api.views import endpoint_fields, endpoint_out, rotating_until

router = APIRouter(prefix="/v1/webhooks/endpoints", tags=["notifications: webhooks"])

_ONE = problem_responses("forbidden", "not-found")


async def owned(db: Db, tenant_id: str, endpoint_id: EndpointId) -> Endpoint:
    found = await get_endpoint(db, tenant_id, str(endpoint_id))
    if found is None:
        raise not_found("webhook endpoint", endpoint_id)
    return found


async def audit(
    conn: Conn, who: Principal, action: str, endpoint_id: Any, detail: dict[str, Any] | None = None
) -> None:
    """An entry of the audit trail (`webhook.<action>`), in the change's transaction: an
    endpoint receives the tenant's events, and its secret is what vouches for them."""
    await record(
        conn,
        tenant_id=who.tenant_id,
        actor=who.actor,
        action=f"webhook.{action}",
        subject=f"webhook:{endpoint_id}",
        detail=detail,
    )


def origin(url: str) -> str:
    """Where an endpoint is, for the audit trail: a URL's path and query can hold a
    receiver's own secret (a token), its scheme, host and port cannot."""
    return urlsplit(url)._replace(path="", query="", fragment="").geturl()


def secret_out(endpoint: Endpoint) -> SecretOut:
    return SecretOut(
        endpoint_id=endpoint.endpoint_id,
        secret=endpoint.secret,
        previous_secret_until=rotating_until(endpoint, wall_clock()),
    )


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreatedOut,
    responses=problem_responses("forbidden", REFUSED_URL, "malformed-request"),
    summary="Register an endpoint (its signing secret is in this answer)",
    openapi_extra=permission("webhooks:manage"),
)
async def create(body: EndpointIn, who: ManagerDep, notify: NotificationsDep) -> EndpointCreatedOut:
    check_url(notify, body.url)
    async with in_transaction(notify.pool) as conn:
        made = await create_endpoint(
            conn,
            who.tenant_id,
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            rate_per_s=body.rate_per_s,
        )
        detail = {"origin": origin(made.url), "event_types": list(made.event_types)}
        await audit(conn, who, "created", made.endpoint_id, detail)
    return EndpointCreatedOut.model_validate(
        {**endpoint_fields(made, wall_clock()), "secret": made.secret}
    )


@router.get(
    "",
    response_model=EndpointList,
    responses=problem_responses("forbidden"),
    summary="The tenant's endpoints (without secrets)",
    openapi_extra=permission("webhooks:manage"),
)
async def list_(who: ManagerDep, notify: NotificationsDep) -> EndpointList:
    now = wall_clock()
    found = await list_endpoints(notify.pool, who.tenant_id)
    return EndpointList(endpoints=[endpoint_out(e, now) for e in found])


@router.get(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses=_ONE,
    summary="One endpoint (without its secret)",
    openapi_extra=permission("webhooks:manage"),
)
async def get(endpoint_id: EndpointId, who: ManagerDep, notify: NotificationsDep) -> EndpointOut:
    return endpoint_out(await owned(notify.pool, who.tenant_id, endpoint_id), wall_clock())


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses=problem_responses("forbidden", "not-found", REFUSED_URL, "malformed-request"),
    summary="Change an endpoint's URL, description, event types or rate (only those given)",
    openapi_extra=permission("webhooks:manage"),
)
async def patch(
    endpoint_id: EndpointId,
    who: ManagerDep,
    notify: NotificationsDep,
    body: Annotated[EndpointPatchIn | None, Body()] = None,
) -> EndpointOut:
    body = body or EndpointPatchIn()  # nothing to change
    if body.url is not None:
        check_url(notify, body.url)
    async with in_transaction(notify.pool) as conn:
        changed = await update_endpoint(
            conn,
            who.tenant_id,
            str(endpoint_id),
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            rate_per_s=body.rate_per_s,
        )
        if changed is None:
            raise not_found("webhook endpoint", endpoint_id)
        detail: dict[str, Any] = {"fields": sorted(body.model_dump(exclude_none=True))}
        if body.url is not None:
            detail["origin"] = origin(body.url)
        await audit(conn, who, "changed", endpoint_id, detail)
    return endpoint_out(changed, wall_clock())


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    responses=_ONE,
    summary="Remove an endpoint (nothing more is sent to it)",
    openapi_extra=permission("webhooks:manage"),
)
async def delete(endpoint_id: EndpointId, who: ManagerDep, notify: NotificationsDep) -> Response:
    async with in_transaction(notify.pool) as conn:
        if not await delete_endpoint(conn, who.tenant_id, str(endpoint_id)):
            raise not_found("webhook endpoint", endpoint_id)
        await audit(conn, who, "deleted", endpoint_id)
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/secret",
    response_model=SecretOut,
    responses=_ONE,
    summary="The endpoint's signing secret",
    openapi_extra=permission("webhooks:manage"),
)
async def secret(endpoint_id: EndpointId, who: ManagerDep, notify: NotificationsDep) -> SecretOut:
    async with in_transaction(notify.pool) as conn:
        found = await owned(conn, who.tenant_id, endpoint_id)
        await audit(conn, who, "secret_read", endpoint_id)
    return secret_out(found)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=SecretOut,
    responses=_ONE,
    summary="A new secret; the previous one signs too for 24 hours (two signatures)",
    openapi_extra=permission("webhooks:manage"),
)
async def rotate(endpoint_id: EndpointId, who: ManagerDep, notify: NotificationsDep) -> SecretOut:
    async with in_transaction(notify.pool) as conn:
        rotated = await rotate_secret(conn, who.tenant_id, str(endpoint_id))
        if rotated is None:
            raise not_found("webhook endpoint", endpoint_id)
        await audit(conn, who, "secret_rotated", endpoint_id)
    return secret_out(rotated)


@router.post(
    "/{endpoint_id}/enable",
    response_model=EndpointOut,
    responses=_ONE,
    summary="Deliver to a disabled endpoint again",
    openapi_extra=permission("webhooks:manage"),
)
async def enable(endpoint_id: EndpointId, who: ManagerDep, notify: NotificationsDep) -> EndpointOut:
    async with in_transaction(notify.pool) as conn:
        enabled = await enable_endpoint(conn, who.tenant_id, str(endpoint_id))
        if enabled is None:
            raise not_found("webhook endpoint", endpoint_id)
        await audit(conn, who, "enabled", endpoint_id)
    return endpoint_out(enabled, wall_clock())


@router.post(
    "/{endpoint_id}/disable",
    response_model=EndpointOut,
    responses=_ONE,
    summary="Stop delivering to an endpoint until it is enabled again",
    description=(
        "Nothing is sent to it from now on, as after an automatic disable (a 410, or 5 days of "
        "failures): its pending retries fail, and events in between are not sent later. "
        "`disabled_reason` says who disabled it. Disabling a disabled endpoint changes nothing "
        "(it keeps its time and reason). `POST .../enable` delivers again."
    ),
    openapi_extra=permission("webhooks:manage"),
)
async def disable(
    endpoint_id: EndpointId, who: ManagerDep, notify: NotificationsDep
) -> EndpointOut:
    reason = f"disabled by {who.actor}"
    async with in_transaction(notify.pool) as conn:
        disabled = await disable_by_hand(conn, who.tenant_id, str(endpoint_id), reason)
        if disabled is None:
            raise not_found("webhook endpoint", endpoint_id)
        await audit(conn, who, "disabled", endpoint_id)
    return endpoint_out(disabled, wall_clock())
