"""A ticket's QR code: its own page's address with its token, as an SVG the kiosk shows and
prints. Whoever scans it follows that one ticket on their phone without a key.

The image carries the ticket's token (a credential for that ticket), so it is answered to the
ticket's holder (its token) or a caller who may take tickets (a kiosk, staff), never cached.
"""

from __future__ import annotations

import io

import segno
from fastapi import APIRouter
from fastapi.responses import Response

from core.settings import Settings
from core.tokens import ticket_token
from http_api.auth import permission
from http_api.deps import ReadModelsDep, ServicesDep
from http_api.problems import problem_responses
from query_api.deps import TicketId, TicketTenant
from query_api.views import not_found

router = APIRouter(tags=["pages"])

SVG = "image/svg+xml"
# How the code is drawn: error correction M (a scuffed printout still scans), the standard quiet
# zone of four modules, black on white, and a viewBox (no fixed size: it fills its box on the
# screen and on the receipt alike).
QR_ERROR = "m"
QR_BORDER = 4
QR_DARK = "#000"
QR_LIGHT = "#fff"


def ticket_page_url(settings: Settings, ticket_id: str) -> str:
    """The ticket's own page, its token in the fragment (never sent to a server or a log)."""
    token = ticket_token(settings.token_secret, ticket_id)
    return f"{settings.public_url.rstrip('/')}/t/{ticket_id}#token={token}"


def qr_svg(data: str) -> bytes:
    code = segno.make(data, error=QR_ERROR, micro=False)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        border=QR_BORDER,
        dark=QR_DARK,
        light=QR_LIGHT,
        omitsize=True,
        xmldecl=True,
    )
    return out.getvalue()


@router.get(
    "/v1/tickets/{ticket_id}/qr",
    response_class=Response,
    summary="A ticket's QR code (SVG): its page's address with its token (the ticket's token, "
    "or a key or person who may take tickets)",
    responses={
        200: {
            "content": {SVG: {"schema": {"type": "string"}}},
            "description": "The QR code of `{public_url}/t/{ticket_id}#token=...`",
        },
        **problem_responses("not-found"),
    },
    openapi_extra=permission("ticket-token", bearer="tickets:enqueue"),
)
async def ticket_qr(
    ticket_id: TicketId, tenant: TicketTenant, models: ReadModelsDep, svc: ServicesDep
) -> Response:
    # A key answers for its own tenant only: another tenant's ticket is one that does not exist.
    if await models.ticket_tenant(str(ticket_id)) != tenant:
        raise not_found("ticket", ticket_id)
    body = qr_svg(ticket_page_url(svc.settings, str(ticket_id)))
    return Response(body, media_type=SVG, headers={"Cache-Control": "no-store"})
