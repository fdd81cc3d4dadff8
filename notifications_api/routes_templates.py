"""A tenant's templates: checked when saved (an unknown variable is refused, not a blank in an
SMS), and a preview that renders any of them with sample values.

A template the document's schema accepts (any visible text) but that is not a valid template
(an unclosed `{%`, a variable its topic does not have) is refused as "rule-violated" (409), as
the project answers every rule the schema cannot say: a 422 means the request broke the
document, and a fuzzer taking the document at its word would rightly report one here."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from http_api.auth import permission
from http_api.deps import ServicesDep
from http_api.problems import ProblemError, problem_responses
from notifications.store.templates import (
    delete_template,
    list_templates,
    put_template,
    resolve_template,
)
from notifications.templates import (
    Template,
    TemplateInvalid,
    render,
    sample_variables,
    validate,
)
from notifications_api.deps import ManagerDep, NotificationsDep, not_found, require_queue
from notifications_api.models import (
    EmailPreviewIn,
    EmailTemplateIn,
    PreviewIn,
    PreviewOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
)
from notifications_api.views import template_out

router = APIRouter(tags=["notifications: templates"])

TemplateId = Annotated[uuid.UUID, Path(description="The template's id")]


def invalid(exc: TemplateInvalid, field: str = "body") -> ProblemError:
    return ProblemError(
        "rule-violated",
        f"the template is not valid: {exc}",
        errors=[{"loc": ["body", field], "msg": str(exc), "type": "template_invalid"}],
    )


@router.get(
    "/v1/templates",
    response_model=TemplateList,
    responses=problem_responses("forbidden", "not-found"),
    summary="The tenant's own templates (the product's defaults are used for the rest)",
    openapi_extra=permission("notifications:manage"),
)
async def list_(
    who: ManagerDep,
    svc: ServicesDep,
    notify: NotificationsDep,
    queue_id: Annotated[uuid.UUID | None, Query(description="Only this queue's own")] = None,
) -> TemplateList:
    """A queue named that is not the tenant's (another tenant's, or none) is a 404."""
    queue = None if queue_id is None else await require_queue(svc, who.tenant_id, queue_id)
    found = await list_templates(notify.pool, who.tenant_id, queue_id=queue)
    return TemplateList(templates=[template_out(t) for t in found])


@router.put(
    "/v1/templates",
    response_model=TemplateOut,
    responses=problem_responses("forbidden", "not-found", "malformed-request", "rule-violated"),
    summary="Make or replace the template of a topic, channel and language (a queue's or all)",
    openapi_extra=permission("notifications:manage"),
)
async def put(
    body: Annotated[TemplateIn, Body()], who: ManagerDep, svc: ServicesDep, notify: NotificationsDep
) -> TemplateOut:
    queue_id = None
    if body.queue_id is not None:
        queue_id = await require_queue(svc, who.tenant_id, body.queue_id)
    subject = body.subject if isinstance(body, EmailTemplateIn) else None
    try:
        validate(body.topic, body.channel, body.body, subject)
    except TemplateInvalid as exc:
        raise invalid(exc) from None
    stored = await put_template(
        notify.pool,
        who.tenant_id,
        queue_id=queue_id,
        topic=body.topic,
        channel=body.channel,
        language=body.language,
        subject=subject,
        body=body.body,
    )
    return template_out(stored)


@router.delete(
    "/v1/templates/{template_id}",
    status_code=204,
    responses=problem_responses("forbidden", "not-found"),
    summary="Delete a template (the next one in line is used again)",
    openapi_extra=permission("notifications:manage"),
)
async def delete(template_id: TemplateId, who: ManagerDep, notify: NotificationsDep) -> Response:
    if not await delete_template(notify.pool, who.tenant_id, str(template_id)):
        raise not_found("template", template_id)
    return Response(status_code=204)


@router.post(
    "/v1/template-previews",
    response_model=PreviewOut,
    responses=problem_responses("forbidden", "not-found", "malformed-request", "rule-violated"),
    summary="Render a template (the one given, else the one in use) with sample values",
    openapi_extra=permission("notifications:manage"),
)
async def preview(
    body: Annotated[PreviewIn, Body()], who: ManagerDep, svc: ServicesDep, notify: NotificationsDep
) -> PreviewOut:
    queue_id = None
    if body.queue_id is not None:
        queue_id = await require_queue(svc, who.tenant_id, body.queue_id)
    subject = body.subject if isinstance(body, EmailPreviewIn) else None
    if body.body is not None and (subject is not None or body.channel != "email"):
        template = Template(body=body.body, subject=subject)
    else:  # what is left out comes from the template in use
        in_use = await resolve_template(
            notify.pool, who.tenant_id, queue_id, body.topic, body.channel, body.language
        )
        template = Template(body=body.body or in_use.body, subject=subject or in_use.subject)
    if body.body is not None or subject is not None:
        try:
            validate(body.topic, body.channel, template.body, template.subject)
        except TemplateInvalid as exc:
            raise invalid(exc) from None
    values = sample_variables(body.topic, body.language, body.data or {})
    try:
        rendered = render(template, values)
    except TemplateInvalid as exc:
        raise invalid(exc, "data") from None
    return PreviewOut(subject=rendered.subject, text=rendered.text)
