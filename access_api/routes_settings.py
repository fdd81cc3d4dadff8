"""The organisation's access settings: MFA per role, rate limit, CORS origins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import Field

from access.org_settings import (
    MAX_ORIGINS,
    RATE_LIMIT_MAX,
    RATE_LIMIT_MIN,
    OrgSettings,
    change_org_settings,
    normal_origins,
    org_settings,
)
from access_api.models import StrictModel
from http_api.auth import permission
from http_api.deps import PrincipalDep, ServicesDep
from http_api.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1/settings", tags=["access: organisation settings"])

_MANAGE = permission("settings:manage")

PersonRole = Literal["admin", "manager", "staff", "viewer"]
# The schema says the shape (a scheme, a host, maybe a port); the server checks the rest (labels,
# port range, duplicates): a well-shaped origin it refuses is a 409, like any valid request the
# rules refuse.
Origin = Annotated[
    str,
    Field(
        min_length=1,
        max_length=300,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?$",
        description="An exact origin `scheme://host[:port]` (no path, no wildcard)",
        examples=["https://clinic.example"],
    ),
]


class AccessSettingsIn(StrictModel):
    """All of the organisation's access settings (a PUT replaces them all). As every request
    body (StrictModel): an unknown field is a 422, a number a JSON number, and the origin
    pattern means what Python's `re` says, as the fuzzers and most validators read it (the
    server normalises what it let through: a last newline is stripped)."""

    mfa_roles: list[PersonRole] = Field(
        max_length=4,
        description="The roles whose people must sign in with a second factor (TOTP)",
        examples=[["admin", "manager"]],
    )
    rate_limit_per_minute: Annotated[int, Field(ge=RATE_LIMIT_MIN, le=RATE_LIMIT_MAX)] | None = (
        Field(
            description="Requests per minute each key or person of the organisation may make; "
            "null: the deployment's default",
            examples=[2000],
        )
    )
    cors_origins: list[Origin] = Field(
        max_length=MAX_ORIGINS,
        description="The web origins the organisation's browser apps call the API from",
        examples=[["https://clinic.example"]],
    )


class AccessSettingsOut(AccessSettingsIn):
    effective_rate_limit_per_minute: int = Field(
        description="The limit in force: the organisation's own, or the deployment's default"
    )


def _out(settings: OrgSettings, default_limit: int) -> AccessSettingsOut:
    limit = settings.rate_limit_per_minute
    return AccessSettingsOut.model_validate(
        {
            **settings.as_json(),
            "effective_rate_limit_per_minute": limit if limit is not None else default_limit,
        }
    )


@router.get(
    "/access",
    response_model=AccessSettingsOut,
    responses=problem_responses("forbidden"),
    summary="The organisation's access settings: second factor per role, rate limit, origins",
    openapi_extra=_MANAGE,
)
async def get_access_settings(who: PrincipalDep, svc: ServicesDep) -> AccessSettingsOut:
    found = await org_settings(svc.pool, who.tenant_id)
    return _out(found, svc.settings.rate_limit_per_minute)


@router.put(
    "/access",
    response_model=AccessSettingsOut,
    responses=problem_responses("forbidden", "rule-violated", "malformed-request"),
    summary="Replace the organisation's access settings (recorded in the audit trail)",
    openapi_extra=_MANAGE,
)
async def put_access_settings(
    body: Annotated[AccessSettingsIn, Body()], who: PrincipalDep, svc: ServicesDep
) -> AccessSettingsOut:
    try:
        wanted = OrgSettings(
            mfa_roles=frozenset(body.mfa_roles),
            rate_limit_per_minute=body.rate_limit_per_minute,
            cors_origins=normal_origins(body.cors_origins),
        )
        now = await change_org_settings(
            svc.pool, who.tenant_id, wanted, actor=who.actor, at=datetime.now(UTC)
        )
    except ValueError as refused:
        raise ProblemError("rule-violated", str(refused)) from None
    return _out(now, svc.settings.rate_limit_per_minute)
