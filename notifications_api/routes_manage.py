"""Staff alerts, scheduled messages and a queue's notification defaults (admins and managers:
notifications:manage)."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import time
from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import Response

from http_api.auth import permission
from http_api.deps import ServicesDep
from http_api.problems import ProblemError, problem_responses
from notifications.store.alerts import create_alert_rule, delete_alert_rule, list_alert_rules
from notifications.store.defaults import get_notify_defaults, put_notify_defaults
from notifications.store.schedules import (
    ScheduleInPast,
    create_schedule,
    delete_schedule,
    list_schedules,
)
from notifications_api.deps import (
    REFUSED_URL,
    ManagerDep,
    NotificationsDep,
    check_url,
    not_found,
    require_queue,
    wall_clock,
)
from notifications_api.models import NotifySettingsIn, NotifySettingsOut
from notifications_api.models_admin import (
    AlertIn,
    AlertList,
    AlertOut,
    ScheduleIn,
    ScheduleList,
    ScheduleOut,
)
from notifications_api.views import alert_out, schedule_out

router = APIRouter(prefix="/v1", tags=["notifications: alerts and schedules"])

QueueId = Annotated[uuid.UUID, Path(description="The queue's id")]
AlertId = Annotated[uuid.UUID, Path(description="The alert's id")]
ScheduleId = Annotated[uuid.UUID, Path(description="The schedule's id")]
_MADE = problem_responses("forbidden", "not-found", REFUSED_URL, "malformed-request")


@router.post(
    "/alerts",
    status_code=201,
    response_model=AlertOut,
    responses=_MADE,
    summary="Tell staff when a condition holds (by email, or to a chat tool's incoming webhook)",
    openapi_extra=permission("notifications:manage"),
)
async def create_alert(
    body: Annotated[AlertIn, Body()], who: ManagerDep, svc: ServicesDep, notify: NotificationsDep
) -> AlertOut:
    if body.channel == "chat":
        check_url(notify, body.address, receives="alerts", at="address")
    queue_id = None
    if body.queue_id is not None:
        queue_id = await require_queue(svc, who.tenant_id, body.queue_id)
    made = await create_alert_rule(
        notify.pool,
        who.tenant_id,
        condition=body.condition,
        channel=body.channel,
        address=body.address,
        queue_id=queue_id,
        threshold=body.threshold,
        language=body.language,
    )
    return alert_out(made)


@router.get(
    "/alerts",
    response_model=AlertList,
    responses=problem_responses("forbidden"),
    summary="The tenant's alerts",
    openapi_extra=permission("notifications:manage"),
)
async def list_alerts(who: ManagerDep, notify: NotificationsDep) -> AlertList:
    return AlertList(
        alerts=[alert_out(a) for a in await list_alert_rules(notify.pool, who.tenant_id)]
    )


@router.delete(
    "/alerts/{alert_id}",
    status_code=204,
    responses=problem_responses("forbidden", "not-found"),
    summary="Delete an alert",
    openapi_extra=permission("notifications:manage"),
)
async def delete_alert(alert_id: AlertId, who: ManagerDep, notify: NotificationsDep) -> Response:
    if not await delete_alert_rule(notify.pool, who.tenant_id, str(alert_id)):
        raise not_found("alert", alert_id)
    return Response(status_code=204)


@router.post(
    "/schedules",
    status_code=201,
    response_model=ScheduleOut,
    responses=problem_responses("forbidden", "not-found", "rule-violated", "malformed-request"),
    summary="Schedule an announcement to everyone waiting, or a daily summary (once or daily)",
    openapi_extra=permission("notifications:manage"),
)
async def create_schedule_(
    body: Annotated[ScheduleIn, Body()], who: ManagerDep, svc: ServicesDep, notify: NotificationsDep
) -> ScheduleOut:
    if getattr(body, "channel", None) == "chat":
        check_url(notify, getattr(body, "address", ""), receives="summaries", at="address")
    queue_id = await require_queue(svc, who.tenant_id, body.queue_id)
    local_time = getattr(body, "local_time", None)
    try:
        made = await create_schedule(
            notify.pool,
            who.tenant_id,
            queue_id=queue_id,
            kind=body.kind,
            recurrence=body.recurrence,
            time_zone=body.time_zone,
            now=wall_clock(),
            at=getattr(body, "at", None),
            local_time=None if local_time is None else time.fromisoformat(local_time),
            text=getattr(body, "text", ""),
            channel=getattr(body, "channel", None),
            address=getattr(body, "address", None),
            language=body.language,
        )
    except ScheduleInPast as exc:
        # The document cannot say "in the future" (it depends on when the request comes).
        raise ProblemError(
            "rule-violated", f"a one-off schedule must be in the future: {exc}"
        ) from None
    return schedule_out(made)


@router.get(
    "/schedules",
    response_model=ScheduleList,
    responses=problem_responses("forbidden"),
    summary="The tenant's schedules, with when each fires next",
    openapi_extra=permission("notifications:manage"),
)
async def list_schedules_(who: ManagerDep, notify: NotificationsDep) -> ScheduleList:
    found = await list_schedules(notify.pool, who.tenant_id)
    return ScheduleList(schedules=[schedule_out(s) for s in found])


@router.delete(
    "/schedules/{schedule_id}",
    status_code=204,
    responses=problem_responses("forbidden", "not-found"),
    summary="Delete a schedule",
    openapi_extra=permission("notifications:manage"),
)
async def delete_schedule_(
    schedule_id: ScheduleId, who: ManagerDep, notify: NotificationsDep
) -> Response:
    if not await delete_schedule(notify.pool, who.tenant_id, str(schedule_id)):
        raise not_found("schedule", schedule_id)
    return Response(status_code=204)


@router.get(
    "/queues/{queue_id}/notification-settings",
    response_model=NotifySettingsOut,
    responses=problem_responses("forbidden", "not-found"),
    summary="What subscribers who do not choose are told, and the feedback link",
    openapi_extra=permission("notifications:manage"),
)
async def get_settings(
    queue_id: QueueId, who: ManagerDep, svc: ServicesDep, notify: NotificationsDep
) -> NotifySettingsOut:
    found = await get_notify_defaults(
        notify.pool, who.tenant_id, await require_queue(svc, who.tenant_id, queue_id)
    )
    return NotifySettingsOut(**asdict(found))


@router.put(
    "/queues/{queue_id}/notification-settings",
    response_model=NotifySettingsOut,
    responses=problem_responses("forbidden", "not-found", "malformed-request"),
    summary="Set a queue's notification defaults",
    openapi_extra=permission("notifications:manage"),
)
async def put_settings(
    queue_id: QueueId,
    who: ManagerDep,
    svc: ServicesDep,
    notify: NotificationsDep,
    body: Annotated[NotifySettingsIn | None, Body()] = None,
) -> NotifySettingsOut:
    body = body or NotifySettingsIn()  # nothing sent: the defaults
    stored = await put_notify_defaults(
        notify.pool,
        who.tenant_id,
        await require_queue(svc, who.tenant_id, queue_id),
        ahead=body.ahead,
        eta_minutes=body.eta_minutes,
        feedback_url=body.feedback_url,
    )
    if stored is None:
        raise not_found("queue", queue_id)
    return NotifySettingsOut(**asdict(stored))
