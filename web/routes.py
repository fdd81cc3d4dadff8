"""The pages: each is a template with the words of the person's language and no data; its
JavaScript asks the same API routes any client would, with the credential the page holds (an
API key or a ticket's token from the URL fragment, or a person's session), so a page never shows
what its caller could not read through the API.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from access.permissions import PERMISSIONS, ROLES
from http_api.auth import permission
from http_api.problems import ProblemError, problem_responses
from web.assets import assets
from web.render import Page, render

router = APIRouter(tags=["pages"])

Lang = Annotated[
    str | None,
    Query(
        max_length=35,
        description="The page's language (`en`, `fr`, `de`, `es`); remembered in a cookie. Unknown "
        "values are ignored (the browser's language is used).",
    ),
]

KIOSK = Page("kiosk", "kiosk.html", ("kiosk",))
TICKET = Page("ticket", "ticket.html", ("ticket",))
STAFF = Page("staff", "staff.html", ("staff", "signin"))
ADMIN = Page("admin", "admin.html", ("admin", "signin"))
DISPLAY = Page("display", "display.html", ("display",))

PUBLIC = permission("public")
# A page answers 200 to any language (unknown ones are ignored); only a malformed address is refused.
REFUSED = problem_responses(common=("validation",))


@router.get(
    "/kiosk",
    summary="The kiosk: take a ticket on a touch screen (a kiosk key in the URL fragment "
    "`#key=`, kept by the browser)",
    response_class=HTMLResponse,
    responses=REFUSED,
    openapi_extra=PUBLIC,
)
async def kiosk(request: Request, lang: Lang = None) -> HTMLResponse:
    return render(request, KIOSK, lang)


@router.get(
    "/t/{ticket_id}",
    summary="A ticket's own page: live position and wait (the ticket's token in the URL "
    "fragment `#token=`, as its QR code carries it)",
    response_class=HTMLResponse,
    responses=REFUSED,
    openapi_extra=PUBLIC,
)
async def ticket(request: Request, ticket_id: uuid.UUID, lang: Lang = None) -> HTMLResponse:
    return render(request, TICKET, lang, ticket_id=str(ticket_id))


@router.get(
    "/staff",
    summary="The staff console: call, serve and move people (sign in)",
    response_class=HTMLResponse,
    responses=REFUSED,
    openapi_extra=PUBLIC,
)
async def staff(request: Request, lang: Lang = None) -> HTMLResponse:
    return render(request, STAFF, lang)


@router.get(
    "/admin",
    summary="The admin console: queues, people, keys, webhooks, templates (sign in)",
    response_class=HTMLResponse,
    responses=REFUSED,
    openapi_extra=PUBLIC,
)
async def admin(request: Request, lang: Lang = None) -> HTMLResponse:
    # The permission table itself (access/permissions.py), in its order, so the page never
    # keeps a copy of its own: which sections a role sees, what a new key of a role may hold.
    table = [[name, [r for r in ROLES if r in roles]] for name, (roles, _) in PERMISSIONS.items()]
    return render(request, ADMIN, lang, roles=list(ROLES), permissions=table)


@router.get(
    "/display",
    summary="A lobby display: several queues at once, each call shown and spoken (a display "
    "key in the URL fragment `#key=`)",
    response_class=HTMLResponse,
    responses=REFUSED,
    openapi_extra=PUBLIC,
)
async def display(request: Request, lang: Lang = None) -> HTMLResponse:
    return render(request, DISPLAY, lang)


@router.get(
    "/static/{name}",
    summary="A static file of the pages (scripts, styles, icons)",
    responses=problem_responses("not-found", common=()),
    openapi_extra=permission("public"),
    include_in_schema=False,
)
async def static(request: Request, name: str, v: str | None = None) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise ProblemError("not-found", f"no static file {name[:100]!r}")
    current = v == asset.digest
    etag = f'"{asset.digest}"'
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable" if current else "no-cache",
        "ETag": etag,
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
