"""A live connection's lease (projections/leases.py), as the live routes take it: built from the
caller's credential, admitted by the process's hub before the route answers (429 or 503 when it
may not open), and released when the connection ends (live_stream.EventStream, the WebSocket)."""

from __future__ import annotations

from typing import Final

from starlette.requests import HTTPConnection

from http_api.auth import Principal, unauthorized
from http_api.deps import Services
from http_api.problems import ProblemError
from projections.fanout import Hub
from projections.leases import Expired, Lease, LiveFull, Revoked, TooManyStreams

# What opening a live connection may answer besides what reading the view may.
LIVE_PROBLEMS: Final = ("too-many-streams", "live-capacity")


def hub_of(conn: HTTPConnection) -> Hub:
    """The process's live-push hub (made in the API's lifespan, vq/api.py)."""
    found: Hub = conn.app.state.hub
    return found


def lease_of(who: Principal) -> Lease:
    """The lease of a connection opened by `who` with `secret` (its key or access token): it
    counts against the key or person, ends when the key, session or person is revoked, and when
    the access token expires."""
    return Lease(
        who.identity,
        key_id=who.key_id,
        session_id=who.session_id,
        user_id=who.user_id,
        expires_at=who.expires_at,
    )


async def ticket_lease(
    conn: HTTPConnection, svc: Services, ticket_id: str, bearer: str | None
) -> Lease:
    """The lease of a ticket's stream: the key's or person's when the caller sent one (as
    `query_api.deps.ticket_tenant` decided, which checked it), else the ticket token's own."""
    secret = bearer or conn.query_params.get("access_token")
    if not secret:
        return Lease.of_ticket(ticket_id)
    return lease_of(await svc.authenticator.authenticate(secret))


def admitted(hub: Hub, lease: Lease) -> Lease:
    """The lease, admitted by the hub; the problem the client is answered otherwise."""
    try:
        hub.admit(lease)
    except Expired:
        raise unauthorized("the credential has expired") from None
    except Revoked:
        raise unauthorized("the credential has been revoked") from None
    except TooManyStreams as refused:
        raise ProblemError(
            "too-many-streams",
            str(refused),
            headers={"Retry-After": str(refused.retry_after_s)},
            extensions={"limit": refused.limit},
        ) from None
    except LiveFull as full:
        raise ProblemError(
            "live-capacity", full.detail(), headers={"Retry-After": str(full.retry_after_s)}
        ) from None
    return lease
