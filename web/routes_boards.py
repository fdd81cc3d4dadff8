"""The two pages the product had before the others: a queue's board for a screen, and the
manager's dashboard. Like every page, each is a template in the person's language and no data:
its script reads the queue (and the dashboard its analytics) through the API with the credential
the page holds, sent as a header.

The board's link may still carry its key in the query (`?access_token=`, as board links always
did): then the key must read the queue before the page is served (401 for a refused key, 404 for
a queue it cannot see), so a wrong link fails at once. A link with the key in its fragment
(`#key=`) reaches no server: that page is served to anyone, and its script says what is wrong.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from http_api.auth import permission
from http_api.deps import AccessToken, ReadModelsDep, ServicesDep, reader_of
from http_api.problems import problem_responses
from query_api.deps import QueueId
from query_api.views import read_queue
from web.render import Page, render
from web.routes import REFUSED, Lang

router = APIRouter(tags=["pages"])

BOARD = Page("board", "board.html", ("board",))
DASHBOARD = Page("dashboard", "dashboard.html", ("dashboard",))
# A board link's key is a credential in the address: neither page is kept by any cache.
NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "/board/{queue_id}",
    summary="A live queue board for a screen (a key that can read the queue in the URL "
    "fragment `#key=`, kept by the browser, or as `?access_token=`)",
    description="With `?access_token=`, the key must read the queue: refused keys answer 401 "
    "and queues it cannot see 404, before any page is sent. The page then reads the queue's "
    "live view with that key as a header.",
    response_class=HTMLResponse,
    responses=problem_responses("forbidden", "not-found"),
    openapi_extra=permission("public"),
)
async def board(
    request: Request,
    queue_id: QueueId,
    svc: ServicesDep,
    models: ReadModelsDep,
    access_token: AccessToken = None,
    lang: Lang = None,
) -> HTMLResponse:
    if access_token is not None:
        who = await reader_of(request, svc, None, access_token, "read")
        await read_queue(models, who.tenant_id, queue_id, None, 0)
    page = render(request, BOARD, lang, queue_id=str(queue_id))
    page.headers.update(NO_STORE)
    return page


@router.get(
    "/dashboard",
    summary="The manager dashboard: live counts and today's charts per queue (a key with "
    "analytics:read in the URL fragment `#key=`, or a signed-in person's session from the admin "
    "console; `?access_token=` still works). The page holds no data: what it shows, it reads "
    "from the API with that credential.",
    response_class=HTMLResponse,
    responses=REFUSED,
    openapi_extra=permission("public"),
)
async def dashboard(request: Request, lang: Lang = None) -> HTMLResponse:
    page = render(request, DASHBOARD, lang)
    page.headers.update(NO_STORE)
    return page
