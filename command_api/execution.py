"""From an HTTP command request to the service layer and back: the command's context (who,
when, correlation), its Idempotency-Key, and the answer rendered from the outcome.

The answer is rendered from the outcome alone, after the transaction, the same way for the first
answer and for a retry (whose outcome comes back from the Idempotency-Key's row), so a retry gets
the first answer byte for byte.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from fastapi.responses import JSONResponse

from command_api.fields import StrictModel
from command_api.mapping import command_out
from command_api.models import EmptyBody
from core.settings import Settings
from core.tokens import token_matches
from eventstore.values import CommandContext, request_hash
from http_api.auth import Principal, declared_permission, unauthorized
from http_api.deps import BearerKey, PrincipalDep, Services, ServicesDep, admitted, services_of
from http_api.problems import ProblemError
from service_layer.outcome import Outcome
from service_layer.queues import Command, CommandRequest, Idempotency

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key: a retry with the same key and body returns the first answer "
        "and changes nothing; the same key with another request is a 409.",
    ),
]
CorrelationHeader = Annotated[
    uuid.UUID | None,
    Header(alias="X-Correlation-Id", description="Carried into every event this command makes."),
]
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=r'^"?[0-9]{1,10}"?$',
        description='Only act if the queue is still at this stream version (e.g. "42").',
    ),
]


TicketId = Annotated[uuid.UUID, Path(description="The ticket's id")]
TicketTokenHeader = Annotated[
    str | None,
    Header(
        alias="X-Ticket-Token",
        max_length=200,
        description="The ticket's own token (what its QR code carries), instead of a key: the "
        "customer acts on their own ticket",
    ),
]


def if_match_version(value: str | None) -> int | None:
    return None if value is None else int(value.strip('"'))


@dataclass(frozen=True, slots=True)
class Caller:
    """Who gives a command, through which request, with which Idempotency-Key and correlation."""

    svc: Services
    who: Principal
    request: Request
    idempotency_key: str | None
    correlation: uuid.UUID | None

    @property
    def settings(self) -> Settings:
        return self.svc.settings

    def require(self, permission: str) -> None:
        self.who.require(permission)

    async def execute(
        self,
        command: Command,
        *,
        body: StrictModel | None,
        queue_id: str | None = None,
        expected_version: int | None = None,
    ) -> Outcome:
        """Run `command`; `queue_id` None: the queue that holds the command's ticket. Staff
        with assignments act on their queues only: the queue service checks the queues the
        command acts on (a ticket's: where it is then; a move's target too)."""
        command_id = str(uuid.uuid4())
        context = CommandContext(
            command_id=command_id,
            correlation_id=str(self.correlation) if self.correlation else command_id,
            actor=self.who.actor,
            occurred_at=self.svc.queues.now(),
        )
        idempotency = None
        if self.idempotency_key is not None:
            # No body, `{}` and `null` are one request to a command without fields.
            content = "" if body is None or isinstance(body, EmptyBody) else body.hashed_json()
            idempotency = Idempotency(
                key=self.idempotency_key,
                request_hash=request_hash(self.request.method, self.request.url.path, content),
            )
        return await self.svc.queues.execute(
            CommandRequest(
                tenant_id=self.who.tenant_id,
                queue_id=queue_id,
                command=command,
                context=context,
                idempotency=idempotency,
                expected_version=expected_version,
                queues=self.who.queues,
            )
        )


async def caller(
    request: Request,
    who: PrincipalDep,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> Caller:
    return Caller(services_of(request), who, request, idempotency_key, correlation)


CallerDep = Annotated[Caller, Depends(caller)]


async def ticket_caller(
    request: Request,
    ticket_id: TicketId,
    svc: ServicesDep,
    bearer: BearerKey,
    ticket_token: TicketTokenHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
    correlation: CorrelationHeader = None,
) -> Caller:
    """The caller of a command the ticket's own token may give: a key or a person holding the
    route's `x-permission-bearer`, or the token of this very ticket (the customer)."""
    return await holder_caller(
        request, str(ticket_id), svc, bearer, ticket_token, idempotency_key, correlation
    )


async def holder_caller(
    request: Request,
    held: str,
    svc: Services,
    bearer: str | None,
    token: str | None,
    idempotency_key: str | None,
    correlation: uuid.UUID | None,
) -> Caller:
    """A key or a person holding the route's `x-permission-bearer`, or the holder of the token
    of `held` (a ticket, or a booking: its id is its ticket's)."""
    if bearer:
        needs = declared_permission(request.scope, "x-permission-bearer")
        who = await admitted(request, svc, bearer, needs)
    else:
        who = await _ticket_holder(svc, held, token)
    return Caller(svc, who, request, idempotency_key, correlation)


async def _ticket_holder(svc: Services, ticket_id: str, token: str | None) -> Principal:
    """The customer who holds this ticket's token: a principal of its tenant that holds no
    permission (events name it `ticket:<id>`)."""
    if not token:
        raise unauthorized("send an API key, an access token or the ticket's token")
    # A token that does not open this ticket is no credential for it: 401, whatever the id
    # names, so the answer says nothing about which tickets exist.
    if not token_matches(svc.settings.token_secret, ticket_id, token):
        raise unauthorized("this token does not open this ticket")
    # The system of record, not a read model: one who cancels right after taking the ticket
    # must find it, however far the read side is behind.
    located = await svc.store.ticket_location(ticket_id)
    if located is None:
        raise ProblemError("not-found", f"ticket {ticket_id} not found")
    return Principal(tenant_id=located[0], role="customer", actor=f"ticket:{ticket_id}")


TicketCallerDep = Annotated[Caller, Depends(ticket_caller)]


def answer(
    outcome: Outcome,
    *,
    status: int = 200,
    token_secret: str | None = None,
    location: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """The command's answer; `token_secret` adds the ticket's token (enqueue only), `extra`
    members of the route's own answer."""
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    if location is not None:
        headers["Location"] = location
    body = command_out(outcome, token_secret=token_secret)
    return JSONResponse({**body, **(extra or {})}, status_code=status, headers=headers)
