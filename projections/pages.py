"""Pages for people: the manager dashboard (HTML that draws the tenant's queues from the JSON API).

The page carries no data: it reads the key from `?access_token=` and asks the same read routes
any client would, so what it shows is exactly what the API answers.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from command_api.problems import problem_responses
from projections.api import reader

router = APIRouter(tags=["pages"])

# The page loads nothing from elsewhere (it must work offline): the policy makes that hold in
# the browser too. The key rides in the URL, so it is never sent on as a Referer.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; connect-src 'self'; "
    "script-src 'unsafe-inline'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
}


@router.get("/dashboard", response_class=HTMLResponse, dependencies=[Depends(reader)],
            summary="The manager dashboard: live counts and today's charts per queue (HTML; "
            "pass the key as ?access_token=)",
            responses=problem_responses())
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_dashboard_html(), headers=_HEADERS)


@cache
def _dashboard_html() -> str:
    return files("projections").joinpath("dashboard.html").read_text(encoding="utf-8")
