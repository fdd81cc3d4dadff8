"""The words of a message: its template (the queue's, the tenant's, or the default) rendered
with the message's data. A template that cannot render a message fails that attempt like any
other failure, so the message goes the retry way and, in the end, to the dead letters."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from notifications import templates
from notifications.messages import DeliveryFailed, Message, Rendered
from notifications.store.templates import resolve_template


class Wording:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

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
        try:
            return templates.render(template, templates.variables_for(message.topic, message.data))
        except templates.TemplateInvalid as exc:
            raise DeliveryFailed(f"template: {exc}") from exc
