"""Chat alerts: the rendered text to a chat tool's incoming webhook (Slack's JSON shape,
`{"text": ...}`, which Slack, Mattermost, Rocket.Chat, Discord's `/slack` URLs and Teams'
incoming webhooks accept). The URL belongs to an alert rule and may hold a token, so the message
names the rule and the URL is looked up here, never carried on a topic or written to a log. The
request goes through Outbound like every other: no chat URL can be aimed at us."""

from __future__ import annotations

import json
from typing import Any

from psycopg_pool import AsyncConnectionPool

from notifications.messages import DeliveryFailed, Message, Rendered, Sent
from notifications.outbound import Outbound, OutboundFailed, OutboundRefused
from notifications.store.alerts import alert_rule_by_id

TIMEOUT_S = 10.0


class ChatSender:
    def __init__(self, pool: AsyncConnectionPool[Any], outbound: Outbound) -> None:
        self._pool, self._outbound = pool, outbound

    async def send(self, message: Message, rendered: Rendered | None) -> Sent:
        rule = await alert_rule_by_id(self._pool, message.to)
        if rule is None or rule.tenant_id != message.tenant_id:
            raise DeliveryFailed("the alert rule was deleted", permanent=True)
        text = rendered.text if rendered is not None else json.dumps(message.data)
        body = json.dumps({"text": text}).encode()
        headers = {"content-type": "application/json"}
        try:
            answer = await self._outbound.post(rule.address, headers, body, seconds=TIMEOUT_S)
        except OutboundRefused as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        except OutboundFailed as exc:
            raise DeliveryFailed(str(exc)) from exc
        sent = Sent(answer.seconds, answer.status, answer.excerpt.decode("utf-8", "replace"))
        if 200 <= answer.status < 300:
            return sent
        retry = answer.status == 429 or answer.status >= 500
        raise DeliveryFailed(f"HTTP {answer.status}", permanent=not retry, sent=sent)

    async def aclose(self) -> None:
        """The Outbound client is the process's."""
