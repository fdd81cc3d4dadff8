"""Tenants (made by the operator) and their API keys (made by the tenant's admins): make (with
scopes and an expiry), list (with their last use), rotate (with an overlap), revoke.

Each change is in the audit trail with who made it (access/directory.py). A key that manages
keys cannot make or rotate one that may do more than itself (a scoped key would otherwise
mint itself a full admin key).
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from access.directory import KeyRefused, checked_scopes
from access.permissions import OPERATOR, Role, permissions_of
from access.revocations import publish_revocation
from access_api.models_keys import (
    KeyCreateIn,
    KeyIssuedOut,
    KeyOut,
    KeyRotateIn,
    TenantCreateIn,
    TenantOut,
)
from http_api.auth import Principal, permission
from http_api.deps import BearerKey, PrincipalDep, ServicesDep
from http_api.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1", tags=["tenants and keys"])

KeyId = Annotated[uuid.UUID, Path(description="The key's id")]
MANAGE = "keys:manage"
# An expiry further ahead than this is a mistake (leave it out: the key does not expire).
MAX_LIFETIME = timedelta(days=100 * 366)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


@router.post(
    "/tenants",
    status_code=201,
    response_model=TenantOut,
    responses=problem_responses("malformed-request"),
    summary="Create a tenant and its first admin key (operator key only)",
    openapi_extra=permission(OPERATOR),
)
async def create_tenant(body: TenantCreateIn, svc: ServicesDep, bearer: BearerKey) -> TenantOut:
    operator = svc.settings.operator_key
    given = bearer or ""
    if not operator or not hmac.compare_digest(given.encode(), operator.encode()):
        raise ProblemError(
            "unauthorized",
            "creating tenants needs the operator key (VQ_OPERATOR_KEY) as a bearer token",
        )
    tenant_id, issued = await svc.directory.create_tenant(body.name, actor="operator")
    return TenantOut(tenant_id=tenant_id, name=body.name, admin_key=KeyIssuedOut.issued(issued))


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyIssuedOut,
    responses=problem_responses("forbidden", "rule-violated", "malformed-request"),
    summary="Make an API key for this tenant (its secret is shown once)",
    openapi_extra=permission(MANAGE),
)
async def create_key(body: KeyCreateIn, svc: ServicesDep, who: PrincipalDep) -> KeyIssuedOut:
    who.require(MANAGE)
    expires_at = _checked_expiry(body.expires_at)
    try:
        scopes = checked_scopes(body.role, body.scopes)
    except KeyRefused as refused:
        raise _refused(refused, "scopes") from None
    _not_beyond_caller(who, body.role, scopes)
    try:
        issued = await svc.directory.create_key(
            who.tenant_id,
            body.name,
            body.role,
            scopes=scopes,
            expires_at=expires_at,
            actor=who.actor,
        )
    except KeyRefused as refused:
        raise _refused(refused, "expires_at") from None
    return KeyIssuedOut.issued(issued)


@router.get(
    "/keys",
    response_model=list[KeyOut],
    responses=problem_responses("forbidden"),
    summary="This tenant's API keys (not revoked; never their secrets), with their last use",
    openapi_extra=permission(MANAGE),
)
async def list_keys(svc: ServicesDep, who: PrincipalDep) -> list[KeyOut]:
    who.require(MANAGE)
    now = datetime.now(UTC)
    return [KeyOut.of(record, now) for record in await svc.directory.list_keys(who.tenant_id)]


@router.get(
    "/keys/{key_id}",
    response_model=KeyOut,
    responses=problem_responses("forbidden", "not-found"),
    summary="One API key (never its secret)",
    openapi_extra=permission(MANAGE),
)
async def get_key(key_id: KeyId, svc: ServicesDep, who: PrincipalDep) -> KeyOut:
    who.require(MANAGE)
    record = await svc.directory.get_key(who.tenant_id, str(key_id))
    if record is None:
        raise _not_found(key_id)
    return KeyOut.of(record)


@router.post(
    "/keys/{key_id}/rotate",
    response_model=KeyIssuedOut,
    responses=problem_responses("forbidden", "not-found", "rule-violated", "malformed-request"),
    summary="A new secret for the key (shown once); the one before keeps working for "
    "`overlap_s` (default a day): `previous_secret_expires_at` says until when",
    openapi_extra=permission(MANAGE),
)
async def rotate_key(
    key_id: KeyId,
    svc: ServicesDep,
    who: PrincipalDep,
    body: Annotated[KeyRotateIn | None, Body()] = None,
) -> KeyIssuedOut:
    who.require(MANAGE)
    record = await svc.directory.get_key(who.tenant_id, str(key_id))
    if record is None:
        raise _not_found(key_id)
    _not_beyond_caller(who, record.key.role, record.key.scopes)
    overlap = timedelta(seconds=(body or KeyRotateIn()).overlap_s)
    try:
        issued = await svc.directory.rotate_key(
            who.tenant_id, str(key_id), overlap=overlap, actor=who.actor
        )
    except KeyRefused as refused:
        raise _refused(refused, None) from None
    if issued is None:  # revoked meanwhile
        raise _not_found(key_id)
    # A secret still in an earlier overlap stops now: not from this process's cache either.
    svc.authenticator.forget()
    return KeyIssuedOut.issued(issued)


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    responses=problem_responses("forbidden", "not-found"),
    summary="Revoke an API key (its secrets stop working at once on this replica, within "
    "seconds on the others; its live streams and WebSockets end within seconds)",
    openapi_extra=permission(MANAGE),
)
async def revoke_key(key_id: KeyId, svc: ServicesDep, who: PrincipalDep) -> Response:
    who.require(MANAGE)
    if not await svc.directory.revoke_key(who.tenant_id, str(key_id), actor=who.actor):
        raise _not_found(key_id)
    svc.authenticator.forget()
    # Every API process ends the live connections opened with it (a failure is only logged).
    await publish_revocation(svc.redis, svc.settings.redis_prefix, "key_id", str(key_id))
    return Response(status_code=204)


def _not_found(key_id: uuid.UUID) -> ProblemError:
    return ProblemError("not-found", f"key {key_id} not found")


def _refused(refused: KeyRefused, field: str | None) -> ProblemError:
    """A key the rules refuse, though its request matches the document: 409 (as the queue's
    rules are), so a client that reads the document knows every 422 in advance."""
    errors = None
    if field is not None:
        errors = [{"loc": ["body", field], "msg": str(refused), "type": "rule_violated"}]
    return ProblemError("rule-violated", str(refused), errors=errors)


def _checked_expiry(expires_at: datetime | None) -> datetime | None:
    """The expiry as UTC, refused (409) when past or more than 100 years ahead."""
    if expires_at is None:
        return None
    try:
        moment = expires_at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: beyond what UTC can hold
        moment = _EARLIEST if expires_at.year == 1 else _LATEST
    now = datetime.now(UTC)
    if moment <= now:
        raise _refused(KeyRefused("expires_at must be in the future"), "expires_at")
    if moment - now > MAX_LIFETIME:
        raise _refused(
            KeyRefused("expires_at is at most 100 years ahead (leave it out: no expiry)"),
            "expires_at",
        )
    return moment


def _not_beyond_caller(who: Principal, role: Role, scopes: frozenset[str] | None) -> None:
    """A key may not make or rotate a key that can do more than it can."""
    mine = permissions_of(who.role)
    if who.scopes is not None:
        mine &= who.scopes
    theirs = permissions_of(role) if scopes is None else scopes
    beyond = ", ".join(sorted(theirs - mine))
    if beyond:
        raise ProblemError(
            "forbidden", f"you may not make or rotate a key that can do more than you ({beyond})"
        )
