"""The query side's parameters and who may read a ticket (a key of its tenant, or its token)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Header, Path, Query
from starlette.requests import HTTPConnection

from core.tokens import token_matches
from http_api.auth import declared_permission, unauthorized
from http_api.deps import (
    AccessToken,
    BearerCredentials,
    reader_of,
    refuse_credential_in_url,
    secret_of,
    services_of,
)
from http_api.problems import ProblemError
from query_api.views import not_found

DEFAULT_WAIT_S = 5.0
MAX_WAIT_S = 30.0

QueueId = Annotated[uuid.UUID, Path(description="The queue's id")]
TicketId = Annotated[uuid.UUID, Path(description="The ticket's id")]
MinVersion = Annotated[
    int | None,
    Query(
        ge=0,
        description="Read your write: answer only once the queue's read model reached this "
        "stream version (the `stream_version` a command answered), else 409 stale-read.",
    ),
]
Wait = Annotated[
    float, Query(ge=0, le=MAX_WAIT_S, description="How long to wait for `min_version`, in seconds.")
]
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID", description="Resume: the last `id` received (EventSource sends it)."
    ),
]


HeaderToken = Annotated[
    str | None,
    Header(alias="X-Ticket-Token", description="The ticket's own token, as a header"),
]


async def ticket_tenant(
    conn: HTTPConnection,
    ticket_id: TicketId,
    credentials: BearerCredentials,
    access_token: AccessToken = None,
    token: Annotated[
        str | None,
        Query(
            description="The ticket's own token (what its QR code carries), instead of a key, "
            "for clients that cannot send headers (EventSource). Reads only."
        ),
    ] = None,
    header_token: HeaderToken = None,
) -> str:
    """The tenant whose ticket this is, if the caller may read it: a key, or its own token (a
    header, or the query for what cannot send headers)."""
    bearer = secret_of(credentials)
    if (access_token and not bearer) or (token and not header_token):
        refuse_credential_in_url(conn, "X-Ticket-Token or Authorization: Bearer")  # a read: none
    return await _ticket_holder(conn, ticket_id, bearer or access_token, header_token or token)


async def ticket_writer_tenant(
    conn: HTTPConnection,
    ticket_id: TicketId,
    credentials: BearerCredentials,
    header_token: HeaderToken = None,
) -> str:
    """As `ticket_tenant`, for a route that changes something: the credential in a header only
    (a URL ends up in proxies' logs and browsers' histories). One sent in the query anyway is
    refused by name rather than ignored, so the client learns where it goes."""
    bearer = secret_of(credentials)
    if not (bearer or header_token) and {"token", "access_token"} & set(conn.query_params):
        raise ProblemError(
            "unauthorized",
            "a credential in the URL opens reads only; send the ticket's token in the "
            "X-Ticket-Token header, or a key in the Authorization: Bearer header",
        )
    return await _ticket_holder(conn, ticket_id, bearer, header_token)


async def _ticket_holder(
    conn: HTTPConnection, ticket_id: uuid.UUID, key: str | None, token: str | None
) -> str:
    svc = services_of(conn)
    models = svc.read_models
    if key:
        # A key or a person instead of the token: what the route asks of them (else: read).
        needs = declared_permission(conn.scope, "x-permission-bearer") or "read"
        return (await reader_of(conn, svc, key, None, needs)).tenant_id
    if token is None:
        raise unauthorized("send an API key or the ticket's token")
    # A token that does not open this ticket is no credential for it: 401, whatever the id
    # names, so the answer says nothing about which tickets exist.
    if not token_matches(svc.settings.token_secret, str(ticket_id), token):
        raise unauthorized("this token does not open this ticket")
    tenant = await models.ticket_tenant(str(ticket_id))
    if tenant is None:
        raise not_found("ticket", ticket_id)
    return tenant


TicketTenant = Annotated[str, Depends(ticket_tenant)]
TicketWriterTenant = Annotated[str, Depends(ticket_writer_tenant)]


def requested_wait(query: Mapping[str, str]) -> float:
    """The read-your-writes wait a request asked for (the request deadline grows by it)."""
    if "min_version" not in query:
        return 0.0
    try:
        wait = float(query.get("wait", DEFAULT_WAIT_S))
    except ValueError:
        return 0.0
    return min(max(wait, 0.0), MAX_WAIT_S)
