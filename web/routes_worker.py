"""The pages' service worker, `/sw.js` (web/static/sw.js): it keeps the shells of the ticket page
and the kiosk for an offline reload, and shows the web push notifications of a ticket.

It is served from the root, not from /static/, because a worker controls only the paths under
its own URL (`Service-Worker-Allowed: /` says so as well), and without a content hash: a browser
checks it for updates itself, and must always get the current one (`no-cache`).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from http_api.auth import permission
from web.assets import assets

router = APIRouter(tags=["pages"])

WORKER = "sw.js"
WORKER_HEADERS = {
    "Cache-Control": "no-cache",
    "Service-Worker-Allowed": "/",
}


@router.get(
    "/sw.js",
    summary="The pages' service worker (offline page shells, web push notifications)",
    response_class=Response,
    openapi_extra=permission("public"),
    include_in_schema=False,
)
async def service_worker() -> Response:
    asset = assets()[WORKER]
    headers = {**WORKER_HEADERS, "ETag": f'"{asset.digest}"'}
    return Response(asset.body, media_type=asset.media_type, headers=headers)
