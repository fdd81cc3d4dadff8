"""Queue templates: settings to start a new queue from, the queues the simulator plays.

A GP clinic, a bank branch, a public office, a post office at lunchtime and entry gates, each as
its scenario file (simulation/scenarios/) configures its queue: counters, services, opening hours,
priority classes, target wait, expected service time. `POST /v1/queues` takes `settings` as it is
(a name of one's own, perhaps); the admin page's "Start from" fills the new-queue form with them.
The simulator is read once, at the first request (the API imports no simulator at start-up).
"""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from domain.snapshot import config_to_dict
from http_api.auth import permission
from http_api.deps import ReaderDep
from http_api.problems import problem_responses

router = APIRouter(tags=["queries"])
SHIPPED = ("clinic", "bank_branch", "public_office", "lunch_rush", "fast_lane")


class QueueTemplate(BaseModel):
    template_id: str
    name: str
    description: str
    settings: dict[str, Any] = Field(description="A body for `POST /v1/queues`, as it is")


class QueueTemplates(BaseModel):
    templates: list[QueueTemplate]


@functools.cache
def shipped_templates() -> tuple[dict[str, Any], ...]:
    """The templates, from the shipped scenarios (read once)."""
    from simulation.scenario import load  # only when asked: a light module, read once

    found = []
    for name in SHIPPED:
        scenario = load(name)
        settings = config_to_dict(scenario.queue_config)
        del settings["metadata"]  # a tenant's own labels: none in a template
        if not settings["mean_service_seconds"]:
            del settings["mean_service_seconds"]  # 0 is "not set", which a body says by leaving it
        found.append(
            {
                "template_id": name,
                "name": scenario.queue_config.name,
                "description": scenario.description,
                "settings": settings,
            }
        )
    return tuple(found)


@router.get(
    "/v1/queue-templates",
    response_model=QueueTemplates,
    summary="Settings to start a new queue from (a clinic, a bank branch, a public office...)",
    responses=problem_responses(),
    openapi_extra=permission("read"),
)
async def queue_templates(who: ReaderDep) -> dict[str, Any]:
    return {"templates": list(shipped_templates())}
