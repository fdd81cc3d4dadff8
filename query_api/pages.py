"""Pages for people: a live board for a screen, and the manager's dashboard.

The pages carry no data: each asks the same read routes any client would, with the credential it
was given, so what it shows is exactly what the API answers.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from http_api.auth import permission
from http_api.deps import ReaderDep, ReadModelsDep
from http_api.problems import problem_responses
from query_api.deps import QueueId
from query_api.views import read_queue

router = APIRouter()

# The dashboard loads nothing from elsewhere (it must work offline): the policy makes that hold in
# the browser too. The key rides in the URL, so it is never sent on as a Referer.
_DASHBOARD_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; connect-src 'self'; "
    "script-src 'unsafe-inline'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
}


@router.get(
    "/board/{queue_id}",
    response_class=HTMLResponse,
    tags=["queries"],
    summary="A live queue board for a screen (HTML; pass the key as ?access_token=)",
    responses=problem_responses("not-found"),
    openapi_extra=permission("read"),
)
async def board(queue_id: QueueId, who: ReaderDep, models: ReadModelsDep) -> HTMLResponse:
    await read_queue(models, who.tenant_id, queue_id, None, 0)
    return HTMLResponse(_page("board.html"), headers={"Cache-Control": "no-store"})


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    tags=["pages"],
    summary="The manager dashboard: live counts and today's charts per queue (HTML; a key with "
    "analytics:read in the URL fragment `#key=`, or a signed-in person's session from the admin "
    "console; `?access_token=` still works). The page holds no data: what it shows, it reads "
    "from the API with that credential.",
    openapi_extra=permission("public"),
)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_page("dashboard.html"), headers=_DASHBOARD_HEADERS)


@cache
def _page(name: str) -> str:
    return files("query_api").joinpath(name).read_text(encoding="utf-8")
