"""The audit trail: GET /v1/audit, the caller's tenant's entries only, filtered, paged by
sequence number (a cursor that stays right while entries are added), as JSON or CSV.

CSV is streamed a page at a time, so an export of years of entries holds neither the whole range
in memory nor a connection between pages. Cells a spreadsheet would read as a formula (starting
with = + - @, a tab or a carriage return) are prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from access.audit import AuditEntry
from access.audit_store import AuditQuery, search, search_all
from http_api.auth import permission
from http_api.deps import PrincipalDep, Services, ServicesDep
from http_api.formats import Moment
from http_api.problems import problem_responses

router = APIRouter(prefix="/v1", tags=["audit"])

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SEQ = 2**63 - 1
CSV_COLUMNS = ("seq", "at", "actor", "action", "subject", "detail", "hash")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


class AuditEntryOut(BaseModel):
    seq: int = Field(description="Its place in the deployment's one chain (the paging cursor)")
    at: datetime
    actor: str = Field(description='"key:<id>", "user:<id>", "operator" or "system"')
    action: str = Field(examples=["key.created"])
    subject: str | None = Field(description='What it was done to ("key:<id>", "user:<id>"...)')
    detail: dict[str, Any]
    hash: str = Field(description="SHA-256 (hex) of the entry and the one before it")

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject=entry.subject,
            detail=entry.detail,
            hash=entry.hash.hex(),
        )


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next: str | None = Field(
        description="The next page's URL (also the Link header's rel=next); null: no more"
    )


_TEXT = r"^[^\x00]+$"


@router.get(
    "/audit",
    response_model=AuditPage,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON pages, or CSV (`Accept: text/csv` or `format=csv`): every "
            "matching entry, streamed",
        },
        **problem_responses("forbidden"),
    },
    summary="The tenant's audit trail: sign-ins, MFA and role changes, keys, settings",
    openapi_extra=permission("audit:read"),
)
async def audit_trail(
    request: Request,
    svc: ServicesDep,
    who: PrincipalDep,
    order: Annotated[
        Literal["newest", "oldest"], Query(description="Newest first (default) or oldest first")
    ] = "newest",
    action: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=_TEXT,
            description='An action ("key.created"), or every action under a prefix ending '
            'with "." or "*" ("key." or "key.*")',
        ),
    ] = None,
    actor: Annotated[
        str | None,
        Query(max_length=200, pattern=_TEXT, description='Who did it: "key:<id>", "user:<id>"'),
    ] = None,
    subject: Annotated[
        str | None,
        Query(max_length=200, pattern=_TEXT, description='What it was done to: "key:<id>"'),
    ] = None,
    since: Annotated[
        Moment | None, Query(description="From this moment (RFC 3339), inclusive")
    ] = None,
    until: Annotated[Moment | None, Query(description="Up to this moment, exclusive")] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="Only entries after this `seq`")
    ] = None,
    before: Annotated[
        int | None, Query(ge=0, le=MAX_SEQ, description="Only entries before this `seq`")
    ] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=MAX_LIMIT, description="Entries per page (default 100); CSV: at most"),
    ] = None,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="Overrides the Accept header")
    ] = None,
) -> Response:
    who.require("audit:read")
    query = AuditQuery(
        tenant_id=who.tenant_id,
        newest_first=order == "newest",
        action=action,
        actor=actor,
        subject=subject,
        since=None if since is None else _representable(since),
        until=None if until is None else _representable(until),
        after=after,
        before=before,
    )
    if format == "csv" or (format is None and wants_csv(request.headers.get("accept", ""))):
        return await _csv_answer(svc, query, limit, who.tenant_id)
    size = limit or DEFAULT_LIMIT
    found = await search(svc.pool, query, size + 1)
    page, more = found[:size], len(found) > size
    following = None
    if more:
        cursor = {"before": page[-1].seq} if query.newest_first else {"after": page[-1].seq}
        url = request.url.include_query_params(**cursor, limit=size)
        following = f"{url.path}?{url.query}"
    body = AuditPage(entries=[AuditEntryOut.of(e) for e in page], next=following)
    headers = {"Link": f'<{following}>; rel="next"'} if following else None
    return JSONResponse(body.model_dump(mode="json"), headers=headers)


async def _csv_answer(
    svc: Services, query: AuditQuery, limit: int | None, tenant_id: str
) -> StreamingResponse:
    # The first page is read before answering: PostgreSQL down is a 503, not a cut-off 200.
    first_size = min(limit or MAX_LIMIT, MAX_LIMIT)
    first = await search(svc.pool, query, first_size)
    rest = None
    if len(first) == first_size and (limit is None or limit > first_size):
        left = None if limit is None else limit - first_size
        rest = search_all(svc.pool, query.following(first[-1].seq), limit=left)
    return StreamingResponse(
        _csv_lines(first, rest),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{tenant_id}.csv"'},
    )


async def _csv_lines(
    first: list[AuditEntry], rest: AsyncIterator[AuditEntry] | None
) -> AsyncIterator[str]:
    yield csv_line(CSV_COLUMNS)
    for entry in first:
        yield csv_line(csv_cells(entry))
    if rest is not None:
        async for entry in rest:
            yield csv_line(csv_cells(entry))


def csv_cells(entry: AuditEntry) -> list[str]:
    return [
        str(entry.seq),
        entry.at.astimezone(UTC).isoformat(),
        entry.actor,
        entry.action,
        entry.subject or "",
        json.dumps(entry.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        entry.hash.hex(),
    ]


def csv_line(cells: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([defused(cell) for cell in cells])
    return out.getvalue()


def defused(cell: str) -> str:
    """The cell, made inert for spreadsheets (no formula injection)."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def wants_csv(accept: str) -> bool:
    """Whether the Accept header prefers text/csv to JSON (a tie goes to the one named first)."""
    csv_rank: tuple[float, int] | None = None
    json_rank: tuple[float, int] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        quality = _quality(params)
        rank = (quality, -position)
        if media == "text/csv" and quality > 0:
            csv_rank = max(csv_rank or rank, rank)
        elif media in ("application/json", "application/*", "*/*") and quality > 0:
            json_rank = max(json_rank or rank, rank)
    return csv_rank is not None and (json_rank is None or csv_rank > json_rank)


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def _representable(moment: datetime) -> datetime:
    """The moment in UTC, or the first or last one UTC holds (year 1 or 9999 with an offset)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if moment.year == 1 else _LATEST
