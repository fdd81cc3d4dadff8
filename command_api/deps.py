"""Request-scoped dependencies: the caller, the command's context, and idempotent execution."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from command_api.auth import Authenticator, Principal
from command_api.handlers import Idempotency, Outcome, QueueService, Responder
from command_api.mapping import command_out
from command_api.problems import ProblemError
from domain.commands import QueueCommand
from eventstore.errors import IdempotencyKeyTaken
from eventstore.store import CommandContext, EventStore, request_hash
from eventstore.tenants import TenantDirectory
from vq.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: EventStore
    queues: QueueService
    directory: TenantDirectory
    authenticator: Authenticator


async def services(request: Request) -> Services:  # async: no thread pool hop
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


async def principal(
    svc: ServicesDep,
    authorization: Annotated[str | None, Header(description="Bearer API key")] = None,
) -> Principal:
    return await svc.authenticator.authenticate(authorization)


PrincipalDep = Annotated[Principal, Depends(principal)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key: a retry with the same key and body returns the first answer "
        "and changes nothing; the same key with another body is a 422.",
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


def if_match_version(value: str | None) -> int | None:
    return None if value is None else int(value.strip('"'))


def command_context(svc: Services, who: Principal, correlation: uuid.UUID | None) -> CommandContext:
    command_id = str(uuid.uuid4())
    return CommandContext(
        command_id=command_id,
        correlation_id=str(correlation) if correlation else command_id,
        actor=who.actor,
        occurred_at=svc.queues.now(),
    )


Run = Callable[[Idempotency | None], Awaitable[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False

    def response(self, location: str | None = None) -> JSONResponse:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else {}
        if location is not None and self.status == 201:
            headers["Location"] = location
        return JSONResponse(self.body, status_code=self.status, headers=headers)


async def idempotent(
    svc: Services,
    who: Principal,
    request: Request,
    key: str | None,
    body: BaseModel | None,
    run: Run,
) -> Answer:
    """Run a command at most once per Idempotency-Key; replay the stored answer on a retry."""
    if key is None:
        return Answer(*await run(None))
    fingerprint = request_hash(
        request.method, request.url.path, body.model_dump_json() if body is not None else ""
    )
    stored = await svc.store.find_idempotency(who.tenant_id, key)
    if stored is None:
        try:
            return Answer(*await run(Idempotency(key=key, request_hash=fingerprint)))
        except IdempotencyKeyTaken:
            # A concurrent request with this key committed first; its answer is the answer.
            stored = await svc.store.find_idempotency(who.tenant_id, key)
            if stored is None:
                raise
    if stored.request_hash != fingerprint:
        raise ProblemError(
            "idempotency-key-reused",
            "this Idempotency-Key was already used for a different request; use a new key",
        )
    return Answer(stored.status_code, stored.response, replayed=True)


def default_respond(outcome: Outcome) -> tuple[int, dict[str, Any]]:
    return 200, command_out(outcome)


async def run_queue_command(
    svc: Services,
    who: Principal,
    request: Request,
    *,
    queue_id: str,
    command: QueueCommand,
    body: BaseModel | None,
    idempotency_key: str | None,
    correlation: uuid.UUID | None,
    expected_version: int | None = None,
    respond: Responder = default_respond,
    creating: bool = False,
) -> Answer:
    async def run(idem: Idempotency | None) -> tuple[int, dict[str, Any]]:
        return await svc.queues.execute(
            tenant_id=who.tenant_id,
            queue_id=queue_id,
            command=command,
            context=command_context(svc, who, correlation),
            respond=respond,
            idempotency=idem,
            expected_version=expected_version,
            creating=creating,
        )

    return await idempotent(svc, who, request, idempotency_key, body, run)
