"""What a request handler is given: the process's services, and who is calling.

The bearer key is declared as an OpenAPI security scheme, so clients and tools read from the
document how to authenticate (and a fuzzer does not vary the key as if it were a parameter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from access.directory import TenantDirectory
from access.org_settings import org_settings
from access.sessions import Sessions
from access.tokens import AccessTokens
from core.settings import Settings
from eventstore.port import EventStore
from http_api.auth import Authenticator, Principal, declared_permission
from http_api.problems import ProblemError
from http_api.ratelimit import charge
from http_api.security import origin_allowed
from projections.queries import ReadModels
from service_layer.queues import QueueService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a route needs, made once per process in the app's lifespan (vq/api.py)."""

    settings: Settings
    store: EventStore
    queues: QueueService
    directory: TenantDirectory
    authenticator: Authenticator
    read_models: ReadModels
    # The API's PostgreSQL pool and its Redis client (the query side's: short timeouts), for the
    # stores that are not the event store (access, notifications).
    pool: AsyncConnectionPool[Any]
    redis: aioredis.Redis
    tokens: AccessTokens
    sessions: Sessions


def services_of(conn: HTTPConnection) -> Services:
    found: Services = conn.app.state.services
    return found


# HTTPConnection, not Request: WebSocket routes need them too. Async: no thread pool hop.
async def services(conn: HTTPConnection) -> Services:
    return services_of(conn)


async def read_models(conn: HTTPConnection) -> ReadModels:
    return services_of(conn).read_models


ServicesDep = Annotated[Services, Depends(services)]
ReadModelsDep = Annotated[ReadModels, Depends(read_models)]

bearer_key = HTTPBearer(
    scheme_name="apiKey",
    bearerFormat="vq_... or JWT",
    auto_error=False,
    description="An API key of the tenant (`Authorization: Bearer vq_...`) or a person's access "
    "token from `POST /v1/auth/login` (`Authorization: Bearer eyJ...`)",
)


# The hot dependencies (principal, reader, the ticket's holder, a command's caller) take this
# and the app's state directly rather than `BearerKey` and `ServicesDep`: FastAPI 0.165 works
# out each dependency's cache key and kind anew on every request, so two or three fewer made a
# refused enqueue 1,023 -> 806 Python calls, a ticket read 1,649 -> 1,409 (`python -m
# bench.http_floor --calls --requests 1000`); the OpenAPI document is the same.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_key)]


def secret_of(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The secret of `Authorization: Bearer <secret>`; None without one (or another scheme)."""
    return credentials.credentials if credentials else None


async def bearer_secret(credentials: BearerCredentials) -> str | None:
    return secret_of(credentials)


BearerKey = Annotated[str | None, Depends(bearer_secret)]
AccessToken = Annotated[
    str | None,
    Query(
        description="The API key or access token, for clients that cannot send headers "
        "(EventSource, WebSocket, a screen's browser). Reads only."
    ),
]


async def admitted(
    conn: HTTPConnection, svc: Services, secret: str | None, permission: str | None
) -> Principal:
    """The caller of `secret` if it may do `permission` (401 / 403 otherwise). A route that
    declares no permission is closed to everybody (fail closed)."""
    who = await svc.authenticator.authenticate(secret)
    # The organisation's settings, read once (cached) for its MFA policy and its rate limit.
    own = await org_settings(svc.pool, who.tenant_id)
    who = who.under(own.mfa_roles)
    # Refusals count too: a key hammering what it may not do is slowed like any other.
    await charge(
        conn, who.identity, own.rate_limit_per_minute or svc.settings.rate_limit_per_minute
    )
    if not await origin_allowed(conn, who.tenant_id):
        raise ProblemError(
            "origin-not-allowed",
            "this organisation does not allow calls from this web origin (its access settings "
            "list the allowed ones)",
        )
    if permission is None:
        log.error("route %s declares no x-permission: refused", conn.scope.get("path"))
        raise ProblemError("forbidden", "this route declares no permission")
    who.require(permission)
    return who


async def principal(conn: HTTPConnection, credentials: BearerCredentials) -> Principal:
    """The caller, from its bearer key or access token, holding the route's permission."""
    return await admitted(
        conn, services_of(conn), secret_of(credentials), declared_permission(conn.scope)
    )


async def reader_of(
    conn: HTTPConnection,
    svc: Services,
    bearer: str | None,
    access_token: str | None,
    permission: str | None = None,
) -> Principal:
    """As `principal`, for routes a screen reads: the credential may also come as
    `?access_token=` (reads only); `permission` None: the one the route declares."""
    if access_token and not bearer:
        refuse_credential_in_url(conn, "Authorization: Bearer")
    return await admitted(
        conn, svc, bearer or access_token, permission or declared_permission(conn.scope)
    )


async def reader(
    conn: HTTPConnection, credentials: BearerCredentials, access_token: AccessToken = None
) -> Principal:
    return await reader_of(conn, services_of(conn), secret_of(credentials), access_token)


def refuse_credential_in_url(conn: HTTPConnection, header: str) -> None:
    """A credential in the query string (`?access_token=`, `?token=`) is for what cannot send
    headers (EventSource, WebSocket, a screen's link), and those only read: a request that would
    change something with it is refused (401), so a URL that ends up in a proxy's log, a
    browser's history or a Referer header can at most show what it showed."""
    method = conn.scope.get("method")  # None for a WebSocket, which only reads
    if method is not None and method not in SAFE_METHODS:
        raise ProblemError(
            "unauthorized",
            f"a credential in the URL opens reads only; send it in the {header} header",
        )


SAFE_METHODS = frozenset({"GET", "HEAD"})

PrincipalDep = Annotated[Principal, Depends(principal)]
ReaderDep = Annotated[Principal, Depends(reader)]
