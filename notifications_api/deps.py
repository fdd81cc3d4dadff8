"""What the notification routes are given: the pool their stores use, the outlet that puts
messages on Kafka, the outbound guard; who may manage notifications; and the tenant checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Path
from starlette.requests import HTTPConnection

from http_api.auth import Principal
from http_api.deps import PrincipalDep, Services
from http_api.problems import ProblemError
from notifications.outbound import Guard
from notifications.outlet import Outlet
from notifications.store.db import Pool
from notifications.urls import refusal


@dataclass(frozen=True, slots=True)
class Notifications:
    """Made once per process in the app's lifespan (vq/api.py)."""

    pool: Pool
    outlet: Outlet
    guard: Guard


# A URL aimed inside is refused, though not as bad input (422): the document cannot say which
# hosts are inside, and a fuzzer that takes it at its word (schemathesis' positive data check)
# would report it. "rule-violated" (409) is the project's answer for such refusals elsewhere.
REFUSED_URL = "rule-violated"


def check_url(
    notify: Notifications, url: str, *, receives: str = "webhooks", at: str = "url"
) -> None:
    """A 409 for a URL the notifier would not call (notifications/urls.py); `at` is its field."""
    why = refusal(url, notify.guard)
    if why is not None:
        raise ProblemError(
            REFUSED_URL,
            f"this URL may not receive {receives}: {why}",
            errors=[{"loc": ["body", at], "msg": why, "type": "url_refused"}],
        )


async def notifications(conn: HTTPConnection) -> Notifications:
    found: Notifications = conn.app.state.notifications
    return found


async def manager(who: PrincipalDep) -> Principal:
    """The caller, holding what the route declares (templates, alerts, schedules and queue
    defaults: notifications:manage; webhooks: webhooks:manage)."""
    return who


NotificationsDep = Annotated[Notifications, Depends(notifications)]
ManagerDep = Annotated[Principal, Depends(manager)]
EndpointId = Annotated[uuid.UUID, Path(description="The webhook endpoint's id")]


def wall_clock() -> datetime:
    """The real time, as the notifier's (schedules fire and secrets expire on it, not on a
    simulation's faster clock)."""
    return datetime.now(UTC)


def not_found(kind: str, ident: uuid.UUID | str) -> ProblemError:
    return ProblemError("not-found", f"{kind} {ident} not found")


async def require_queue(svc: Services, tenant_id: str, queue_id: uuid.UUID) -> str:
    """The queue's id, if it is the tenant's; else 404 (another tenant's queue too)."""
    owner = await svc.store.stream_owner(str(queue_id))
    if owner is None or owner[0] != tenant_id:
        raise not_found("queue", queue_id)
    return str(queue_id)
