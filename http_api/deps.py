"""What a request handler is given: the process's services, and who is calling.

The bearer key is declared as an OpenAPI security scheme, so clients and tools read from the
document how to authenticate (and a fuzzer does not vary the key as if it were a parameter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from access.directory import TenantDirectory
from access.sessions import Sessions
from access.tokens import AccessTokens
from core.settings import Settings
from eventstore.port import EventStore
from http_api.auth import Authenticator, Principal
from projections.queries import ReadModels
from service_layer.queues import QueueService


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


# HTTPConnection, not Request: WebSocket routes need them too. Async: no thread pool hop.
async def services(conn: HTTPConnection) -> Services:
    found: Services = conn.app.state.services
    return found


async def read_models(conn: HTTPConnection) -> ReadModels:
    found: ReadModels = conn.app.state.services.read_models
    return found


ServicesDep = Annotated[Services, Depends(services)]
ReadModelsDep = Annotated[ReadModels, Depends(read_models)]

bearer_key = HTTPBearer(
    scheme_name="apiKey",
    bearerFormat="vq_...",
    auto_error=False,
    description="An API key of the tenant: `Authorization: Bearer vq_...`",
)


async def bearer_secret(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_key)],
) -> str | None:
    """The secret of `Authorization: Bearer <secret>`; None without one (or another scheme)."""
    return credentials.credentials if credentials else None


BearerKey = Annotated[str | None, Depends(bearer_secret)]
AccessToken = Annotated[
    str | None,
    Query(
        description="The API key, for clients that cannot send headers (EventSource, WebSocket, a "
        "screen's browser). Reads only."
    ),
]


async def principal(svc: ServicesDep, bearer: BearerKey) -> Principal:
    """The caller, from its bearer key (401 without a valid one)."""
    return await svc.authenticator.authenticate(bearer)


async def reader_of(svc: Services, bearer: str | None, access_token: str | None) -> Principal:
    """Any role of the tenant may read; the key comes as a bearer header or `?access_token=`."""
    who = await svc.authenticator.authenticate(bearer or access_token)
    who.require("read")
    return who


async def reader(
    svc: ServicesDep, bearer: BearerKey, access_token: AccessToken = None
) -> Principal:
    return await reader_of(svc, bearer, access_token)


PrincipalDep = Annotated[Principal, Depends(principal)]
ReaderDep = Annotated[Principal, Depends(reader)]
