"""An endpoint that keeps failing is disabled after `VQ_WEBHOOK_DISABLE_AFTER_S` (5 days by
default; 2 s here) and the tenant's `delivery_failures` alert reaches its manager by email."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.reach import delivery_topics, notifier, reach_settings, settled_delivery
from tests.integration.servers import read_side
from tests.receivers.smtp import SmtpReceiver
from tests.receivers.webhook import WebhookReceiver

STARTUP_S = 40.0


@pytest.fixture
def settings(settings: Settings, smtp: SmtpReceiver) -> Settings:
    return reach_settings(
        settings,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        webhook_disable_after_s=2.0,
        delivery_schedule="0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
    )


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    await delivery_topics(settings)
    with read_side(settings), notifier(settings):
        yield


async def test_an_endpoint_failing_too_long_is_disabled_and_the_tenant_alerted(
    api: ApiClient, hooks: WebhookReceiver, smtp: SmtpReceiver, pipeline: None
) -> None:
    hooks.fail("/down", times=1_000, status=503)
    alert = {"condition": "delivery_failures", "channel": "email", "address": "it@example.com"}
    assert (await api.post("/v1/alerts", json=alert)).status_code == 201
    made = await api.post("/v1/webhooks/endpoints", json={"url": hooks.url_for("/down")})
    assert made.status_code == 201, made.text
    endpoint_id = made.json()["endpoint_id"]
    await api.create_queue()  # QueueCreated: one message, failing on
    [mail] = await smtp.wait_for(1, STARTUP_S)
    assert mail.rcpt_tos == ("it@example.com",)
    assert endpoint_id in mail.message.get_content()
    shown = await _endpoint(api, endpoint_id)
    assert shown["disabled_at"] is not None and "failing" in shown["disabled_reason"]
    tried = len(hooks.requests("/down"))
    assert tried >= 3  # failed for 2 s first, on the 0.5 s schedule
    await asyncio.sleep(2)
    assert len(hooks.requests("/down")) == tried  # disabled: nothing more is sent
    # "dead" is written by the attempt after the one that disabled the endpoint (its send finds
    # the endpoint disabled): the log is read until that attempt has settled the message.
    message = await settled_delivery(api, endpoint_id)
    assert message["status"] == "dead" and "disabled" in (message["last_error"] or "")


async def _endpoint(api: ApiClient, endpoint_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        shown: dict[str, Any] = (
            await api.http.get(f"/v1/webhooks/endpoints/{endpoint_id}", headers=api.auth())
        ).json()
        if shown.get("disabled_at") is not None or time.monotonic() > deadline:
            return shown
        await asyncio.sleep(0.1)
