"""Webhooks: an event as JSON to a tenant's endpoint, signed per the Standard Webhooks spec.

The message id is the `webhook-id` (receivers dedupe by it); the body is what the notifier put in
the message's data. A 2xx is delivered; a 410 disables the endpoint at once (the receiver said it
is gone for good); anything else, or no answer within the bound, is a failure to retry. An
endpoint that has failed with no success for `webhook_disable_after_s` is disabled too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from core.settings import Settings
from notifications.breaker import Breakers, RateLimits
from notifications.messages import DeliveryFailed, Message, Rendered, Sent
from notifications.outbound import Outbound, OutboundFailed, OutboundRefused
from notifications.signing import sign
from notifications.store import endpoints as store

# Told when an endpoint is disabled (the alerting hook): tenant, endpoint id, reason.
OnDisabled = Callable[[str, str, str], Awaitable[None]]


class WebhookSender:
    def __init__(
        self,
        settings: Settings,
        pool: AsyncConnectionPool[Any],
        outbound: Outbound,
        clock: Callable[[], datetime],
        on_disabled: OnDisabled | None = None,
    ) -> None:
        self._settings, self._pool, self._outbound, self._clock = settings, pool, outbound, clock
        self._limits = RateLimits()
        self._breakers = Breakers(cooldown_s=max(1.0, 30 * settings.delivery_time_scale))
        self._failing: set[str] = set()  # endpoints this process saw fail since their last success
        self._on_disabled = on_disabled

    async def send(self, message: Message, rendered: Rendered | None) -> Sent:
        endpoint = await store.endpoint_by_id(self._pool, message.to)
        if endpoint is None or endpoint.tenant_id != message.tenant_id:
            raise DeliveryFailed("the endpoint was deleted", permanent=True)
        if endpoint.disabled_at is not None:
            raise DeliveryFailed(
                f"the endpoint is disabled: {endpoint.disabled_reason}", permanent=True
            )
        if not self._breakers.allows(endpoint.endpoint_id):
            raise DeliveryFailed("circuit open: the endpoint failed repeatedly, not called")
        await self._limits.take(endpoint.endpoint_id, endpoint.rate_per_s)
        now = self._clock()
        body = json.dumps(message.data, separators=(",", ":")).encode()
        headers = {
            **sign(endpoint.signing_secrets(now), message.id, int(time.time()), body).as_dict(),
            "content-type": "application/json",
            "user-agent": "virtual-queue-webhooks/1",
        }
        try:
            answer = await self._outbound.post(
                endpoint.url, headers, body, seconds=self._settings.webhook_timeout_s
            )
        except OutboundRefused as exc:
            raise DeliveryFailed(str(exc), permanent=True) from exc
        except OutboundFailed as exc:
            await self._failed(endpoint.endpoint_id, endpoint.tenant_id, now)
            raise DeliveryFailed(str(exc)) from exc
        sent = Sent(answer.seconds, answer.status, answer.excerpt.decode("utf-8", "replace"))
        if 200 <= answer.status < 300:
            await self._succeeded(endpoint.endpoint_id)
            return sent
        if answer.status == 410:
            await self._disable(
                endpoint.tenant_id, endpoint.endpoint_id, "the receiver answered 410 Gone"
            )
            raise DeliveryFailed("410 Gone: endpoint disabled", gone=True, sent=sent)
        await self._failed(endpoint.endpoint_id, endpoint.tenant_id, now)
        raise DeliveryFailed(f"HTTP {answer.status}", sent=sent)

    async def _succeeded(self, endpoint_id: str) -> None:
        self._breakers.succeeded(endpoint_id)
        if endpoint_id in self._failing:
            self._failing.discard(endpoint_id)
            await store.note_success(self._pool, endpoint_id)

    async def _failed(self, endpoint_id: str, tenant_id: str, now: datetime) -> None:
        self._breakers.failed(endpoint_id)
        self._failing.add(endpoint_id)
        since = await store.note_failure(self._pool, endpoint_id, now)
        if (now - since).total_seconds() >= self._settings.webhook_disable_after_s:
            days = self._settings.webhook_disable_after_s / 86400
            await self._disable(
                tenant_id, endpoint_id, f"failing with no success for {days:g} days"
            )

    async def _disable(self, tenant_id: str, endpoint_id: str, reason: str) -> None:
        await store.disable_endpoint(self._pool, endpoint_id, reason)
        if self._on_disabled is not None:
            await self._on_disabled(tenant_id, endpoint_id, reason)

    async def aclose(self) -> None:
        """The Outbound client is the process's, closed by whoever made it."""
