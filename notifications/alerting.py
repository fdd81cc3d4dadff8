"""Staff and manager alerts: a condition seen by a stage becomes a message per alert rule that
asked for it. Ids are made of the rule and what was seen (the queue and its version, the endpoint
and the moment it was disabled), so seeing it twice alerts once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from notifications.messages import Message
from notifications.outlet import Outlet
from notifications.store.alerts import AlertRule, alert_rules_for


def alert_messages(
    rules: Sequence[AlertRule], *, seen: str, at: datetime, data: dict[str, Any]
) -> list[Message]:
    return [
        Message(
            id=f"alert:{rule.alert_id}:{seen}",
            tenant_id=rule.tenant_id,
            channel="chat" if rule.channel == "chat" else "email",
            # A chat URL may hold a token: the message names the rule, the sender looks it up.
            to=rule.alert_id if rule.channel == "chat" else rule.address,
            topic=f"alert:{rule.condition}",
            created_at=at,
            order_key=rule.alert_id,
            language=rule.language,
            queue_id=data.get("queue_id"),
            data=data,
        )
        for rule in rules
    ]


class Alerts:
    """Raise alerts from a stage that has no messages of its own to send them with."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        outlet: Outlet,
        public_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool, self._outlet, self._public_url = pool, outlet, public_url.rstrip("/")
        self._clock = clock

    async def endpoint_disabled(self, tenant_id: str, endpoint_id: str, reason: str) -> None:
        """The webhook sender's hook (channels/webhook.py `OnDisabled`)."""
        at = self._clock()
        rules = await alert_rules_for(self._pool, tenant_id, "delivery_failures", None)
        data = {
            "detail": f"webhook endpoint {endpoint_id} was disabled: {reason}",
            "value": None,
            "threshold": None,
            "dashboard_url": f"{self._public_url}/dashboard",
        }
        seen = f"endpoint:{endpoint_id}:{at.isoformat()}"
        await self._outlet.send(alert_messages(rules, seen=seen, at=at, data=data))
