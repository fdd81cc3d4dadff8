"""The words of a message: its template (the queue's, the tenant's, or the default) rendered
with the message's data. A template that cannot render a message fails that attempt like any
other failure, so the message goes the retry way and, in the end, to the dead letters.

The organisation's name (`tenant_name`, the signature of the default emails) is added here, when
the message is sent, not when it is made: every kind of message to a person (a rule's, an
announcement, a reminder, a replayed one) gets it, as the organisation is called now."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from notifications import templates
from notifications.messages import DeliveryFailed, Message, Rendered
from notifications.queue_views import TenantNames
from notifications.store.templates import resolve_template


class Wording:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._tenants = TenantNames(pool)

    async def render(self, message: Message) -> Rendered | None:
        if message.channel == "webhook":
            return None  # the body is the event itself
        template = await resolve_template(
            self._pool,
            message.tenant_id,
            message.queue_id,
            message.topic,
            message.channel,
            message.language,
        )
        data = message.data
        if "tenant_name" in templates.TOPICS.get(message.topic, ()) and not data.get("tenant_name"):
            data = {**data, "tenant_name": await self._tenants.name(message.tenant_id)}
        try:
            return templates.render(template, templates.variables_for(message.topic, data))
        except templates.TemplateInvalid as exc:
            raise DeliveryFailed(f"template: {exc}") from exc
