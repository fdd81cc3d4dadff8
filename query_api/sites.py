"""The organisation's sites (locations) at a glance: their queues, who waits and who is being
served in each, and the queue with the shortest expected wait at each site. A queue's site is
one of its settings (`site`); queues without one are listed under `null`, last."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from http_api.auth import permission
from http_api.deps import ReaderDep, ReadModelsDep
from http_api.problems import problem_responses
from query_api.routing import RoutedQueue, ranked, routed
from query_api.views import queue_out

router = APIRouter(tags=["queries"])


class SiteOut(BaseModel):
    site: str | None = Field(description="Its name (null: the queues that name no site)")
    queues: list[RoutedQueue] = Field(description="Its queues, by name")
    open: int = Field(description="Queues open now")
    waiting: int
    called: int
    serving: int
    best: RoutedQueue | None = Field(
        description="Its open or paused queue with the shortest expected wait (null: none)"
    )


class SitesOut(BaseModel):
    sites: list[SiteOut]


def by_site(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queue views (as the API shows them) grouped by site: named sites by name, then none."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for view in sorted(views, key=lambda v: v["name"]):
        groups.setdefault(view.get("site"), []).append(view)
    order = sorted((s for s in groups if s is not None), key=str.casefold)
    sites = []
    for site in [*order, *([None] if None in groups else [])]:
        queues = groups[site]
        best = ranked(queues)
        sites.append(
            {
                "site": site,
                "queues": [routed(q) for q in queues],
                "open": sum(1 for q in queues if q["status"] == "open"),
                "waiting": sum(q["waiting"] for q in queues),
                "called": sum(q["called"] for q in queues),
                "serving": sum(q["serving"] for q in queues),
                "best": routed(best[0]) if best else None,
            }
        )
    return sites


@router.get(
    "/v1/sites",
    response_model=SitesOut,
    summary="The organisation's sites: their queues, who waits, and the shortest wait at each",
    responses=problem_responses(),
    openapi_extra=permission("read"),
)
async def sites(who: ReaderDep, models: ReadModelsDep) -> dict[str, Any]:
    now = models.now()
    return {"sites": by_site([queue_out(q, now) for q in await models.queues(who.tenant_id)])}
