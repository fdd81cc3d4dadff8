"""Tenants and API keys. Tenants are made by the operator; keys by a tenant's admin."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from command_api.models import KeyCreateIn, KeyOut, TenantCreateIn, TenantOut
from http_api.deps import BearerKey, PrincipalDep, ServicesDep
from http_api.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1", tags=["tenants and keys"])


@router.post(
    "/tenants",
    status_code=201,
    response_model=TenantOut,
    responses=problem_responses("malformed-request"),
    summary="Create a tenant and its first admin key (operator key only)",
)
async def create_tenant(body: TenantCreateIn, svc: ServicesDep, bearer: BearerKey) -> TenantOut:
    operator = svc.settings.operator_key
    given = bearer or ""
    if not operator or not hmac.compare_digest(given.encode(), operator.encode()):
        raise ProblemError(
            "unauthorized",
            "creating tenants needs the operator key (VQ_OPERATOR_KEY) as a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    tenant_id, issued = await svc.directory.create_tenant(body.name)
    key = issued.key
    return TenantOut(
        tenant_id=tenant_id,
        name=body.name,
        admin_key=KeyOut(
            key_id=key.key_id,
            tenant_id=tenant_id,
            name=key.name,
            role=key.role,
            secret=issued.secret,
        ),
    )


@router.post(
    "/keys",
    status_code=201,
    response_model=KeyOut,
    responses=problem_responses("forbidden", "malformed-request"),
    summary="Make an API key for this tenant (its secret is shown once)",
)
async def create_key(body: KeyCreateIn, svc: ServicesDep, who: PrincipalDep) -> KeyOut:
    who.require("keys:manage")
    issued = await svc.directory.create_key(who.tenant_id, body.name, body.role)
    key = issued.key
    return KeyOut(
        key_id=key.key_id,
        tenant_id=key.tenant_id,
        name=key.name,
        role=key.role,
        secret=issued.secret,
    )


@router.get(
    "/keys",
    response_model=list[KeyOut],
    responses=problem_responses("forbidden"),
    summary="This tenant's API keys (without secrets)",
)
async def list_keys(svc: ServicesDep, who: PrincipalDep) -> list[KeyOut]:
    who.require("keys:manage")
    return [
        KeyOut(key_id=k.key_id, tenant_id=k.tenant_id, name=k.name, role=k.role)
        for k in await svc.directory.list_keys(who.tenant_id)
    ]


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    responses=problem_responses("forbidden", "not-found"),
    summary="Revoke an API key",
)
async def revoke_key(
    key_id: Annotated[uuid.UUID, Path()], svc: ServicesDep, who: PrincipalDep
) -> Response:
    who.require("keys:manage")
    if not await svc.directory.revoke_key(who.tenant_id, str(key_id)):
        raise ProblemError("not-found", f"key {key_id} not found")
    svc.authenticator.forget()
    return Response(status_code=204)
