"""A tenant's own words for its messages, per queue (or all its queues), topic, channel and
language; and the one a message is rendered with.

The delivery workers resolve a template for every message, so resolutions are remembered for a
few seconds: a change reaches this process at once (its cache is cleared) and every other one
within TTL_S.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachetools import TTLCache

from notifications.store.db import Pool, changed, fetch_all, fetch_one
from notifications.templates import Template, default_template

FALLBACK_LANGUAGE = "en"
TTL_S = 5.0
_CACHE_MAX = 10_000

_COLUMNS = (
    "template_id::text, tenant_id::text, queue_id::text, topic, channel, language, subject, body, "
    "updated_at"
)
# (tenant, queue, topic, channel, language) -> the template it resolves to.
_Key = tuple[str, str | None, str, str, str]
_resolved: TTLCache[_Key, Template] = TTLCache(_CACHE_MAX, TTL_S)


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    template_id: str
    tenant_id: str
    queue_id: str | None  # None: the tenant's, for every queue without its own
    topic: str
    channel: str
    language: str
    subject: str | None
    body: str
    updated_at: datetime

    @property
    def template(self) -> Template:
        return Template(body=self.body, subject=self.subject)


def _forget(tenant_id: str) -> None:
    for key in [k for k in list(_resolved) if k[0] == tenant_id]:
        _resolved.pop(key, None)


async def put_template(
    pool: Pool,
    tenant_id: str,
    *,
    queue_id: str | None,
    topic: str,
    channel: str,
    language: str,
    body: str,
    subject: str | None = None,
) -> StoredTemplate:
    """Make or replace the template of (queue or tenant, topic, channel, language). The caller
    has validated it and checked that the queue is the tenant's."""
    row = await fetch_one(
        pool,
        f"""INSERT INTO templates AS t (template_id, tenant_id, queue_id, topic, channel,
                                       language, subject, body)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (tenant_id,
                         COALESCE(queue_id, '00000000-0000-0000-0000-000000000000'::uuid),
                         topic, channel, language)
            DO UPDATE SET subject = EXCLUDED.subject, body = EXCLUDED.body, updated_at = now()
            RETURNING {_COLUMNS}""",
        (str(uuid.uuid4()), tenant_id, queue_id, topic, channel, language, subject, body),
    )
    assert row is not None  # an upsert returns its row
    _forget(tenant_id)
    return StoredTemplate(*row)


async def list_templates(
    pool: Pool, tenant_id: str, *, queue_id: str | None = None
) -> list[StoredTemplate]:
    """The tenant's templates (only one queue's own, when `queue_id` is given)."""
    rows = await fetch_all(
        pool,
        f"""SELECT {_COLUMNS} FROM templates
            WHERE tenant_id = %s AND (%s::uuid IS NULL OR queue_id = %s::uuid)
            ORDER BY topic, channel, language, queue_id NULLS FIRST""",
        (tenant_id, queue_id, queue_id),
    )
    return [StoredTemplate(*row) for row in rows]


async def get_template(
    pool: Pool,
    tenant_id: str,
    *,
    queue_id: str | None,
    topic: str,
    channel: str,
    language: str,
) -> StoredTemplate | None:
    """Exactly this one (no fallback)."""
    row = await fetch_one(
        pool,
        f"""SELECT {_COLUMNS} FROM templates
            WHERE tenant_id = %s AND queue_id IS NOT DISTINCT FROM %s::uuid
              AND topic = %s AND channel = %s AND language = %s""",
        (tenant_id, queue_id, topic, channel, language),
    )
    return None if row is None else StoredTemplate(*row)


async def delete_template(pool: Pool, tenant_id: str, template_id: str) -> bool:
    count = await changed(
        pool,
        "DELETE FROM templates WHERE tenant_id = %s AND template_id = %s",
        (tenant_id, template_id),
    )
    _forget(tenant_id)
    return count > 0


def _rank(row: tuple[Any, ...], queue_id: str | None, language: str) -> int:
    """0 is the best: the queue's own in the language, the tenant's in it, then the same two in
    the fallback language."""
    row_queue, row_language = row[0], row[1]
    return (0 if row_language == language else 2) + (0 if row_queue == queue_id else 1)


async def resolve_template(
    pool: Pool,
    tenant_id: str,
    queue_id: str | None,
    topic: str,
    channel: str,
    language: str,
) -> Template:
    """The template a message is rendered with: the queue's own in its language, else the
    tenant's in that language, else the queue's or the tenant's in English, else the product's
    default for the topic."""
    key: _Key = (tenant_id, queue_id, topic, channel, language)
    found = _resolved.get(key)
    if found is not None:
        return found
    rows = await fetch_all(
        pool,
        """SELECT queue_id::text, language, subject, body FROM templates
           WHERE tenant_id = %s AND topic = %s AND channel = %s AND language = ANY(%s)
             AND (queue_id IS NULL OR queue_id = %s::uuid)""",
        (tenant_id, topic, channel, [language, FALLBACK_LANGUAGE], queue_id),
    )
    if rows:
        best = min(rows, key=lambda row: _rank(row, queue_id, language))
        found = Template(body=best[3], subject=best[2])
    else:
        found = default_template(topic, channel, language)
    _resolved[key] = found
    return found
