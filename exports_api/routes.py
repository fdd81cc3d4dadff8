"""GET /v1/export/events and /v1/export/tickets.csv: the caller's tenant's data, streamed.

Admins only (`audit:read`: an export shows every event with who gave it, as the audit trail
does). The answer is streamed a page of the store at a time (exports/), so an export of any size
holds one page in memory and no connection between pages. The first page is read before the
answer starts: PostgreSQL down is a 503 with Retry-After (the error handlers' StoreUnavailable),
not a 200 cut short. A failure after that can only cut the body short; a client tells by the
missing last line (JSON lines) or by the events' count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from access.organisations import record_alone
from exports.events import csv_chunks, jsonl_chunks
from exports.tickets import tickets_csv_chunks
from http_api.auth import permission
from http_api.deps import PrincipalDep, ServicesDep
from http_api.problems import problem_responses

router = APIRouter(prefix="/v1/export", tags=["export"])

JSONL = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"
_STRING = {"schema": {"type": "string"}}


async def _started(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """The chunks, the first one read now (so a store that is down fails the request)."""
    first = await anext(chunks, None)

    async def all_of() -> AsyncIterator[str]:
        if first is not None:
            yield first
        async for chunk in chunks:
            yield chunk

    return all_of()


async def _audited(svc: ServicesDep, who: PrincipalDep, what: str, format: str) -> None:
    """An export in the audit trail (`export.<what>`): the whole history leaving, and by whom."""
    await record_alone(
        svc.pool,
        tenant_id=who.tenant_id,
        actor=who.actor,
        action=f"export.{what}",
        detail={"format": format},
    )


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {JSONL: _STRING, "text/csv": _STRING},
            "description": "Every event of the tenant in the store's global order: JSON lines "
            "(one object an event, what `vq data import` reads) or CSV (the payload a JSON "
            "column), streamed",
        },
        **problem_responses("forbidden"),
    },
    summary="Export the tenant's events (JSON lines or CSV)",
    openapi_extra=permission("audit:read"),
)
async def export_events(
    svc: ServicesDep,
    who: PrincipalDep,
    format: Annotated[
        Literal["jsonl", "csv"], Query(description="jsonl (default) or csv")
    ] = "jsonl",
) -> StreamingResponse:
    who.require("audit:read")
    await _audited(svc, who, "events", format)
    if format == "csv":
        chunks = await _started(csv_chunks(svc.pool, who.tenant_id))
        name = f"events-{who.tenant_id}.csv"
        return StreamingResponse(chunks, media_type=CSV, headers=_attachment(name))
    chunks = await _started(jsonl_chunks(svc.pool, who.tenant_id))
    name = f"events-{who.tenant_id}.jsonl"
    return StreamingResponse(chunks, media_type=JSONL, headers=_attachment(name))


@router.get(
    "/tickets.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": _STRING},
            "description": "One row a ticket and queue: number, priority, service type, "
            "channel, status, enqueued / called / served / cancelled times and the wait in "
            "seconds (no contact details: personal data), streamed queue by queue",
        },
        **problem_responses("forbidden"),
    },
    summary="Export the tenant's tickets (CSV)",
    openapi_extra=permission("audit:read"),
)
async def export_tickets(svc: ServicesDep, who: PrincipalDep) -> StreamingResponse:
    who.require("audit:read")
    await _audited(svc, who, "tickets", "csv")
    chunks = await _started(tickets_csv_chunks(svc.pool, who.tenant_id))
    name = f"tickets-{who.tenant_id}.csv"
    return StreamingResponse(chunks, media_type=CSV, headers=_attachment(name))
