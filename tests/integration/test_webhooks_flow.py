"""Webhooks end to end: a command through the API, the relay, a stream worker and the notifier
(a real `vq notifier` process) to a receiver on loopback, with retries on the compressed schedule,
signatures the official Standard Webhooks library verifies, 410, redirects and timeouts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.reach import (
    SCHEDULE,
    delivery_topics,
    notifier,
    reach_settings,
    settled_delivery,
)
from tests.integration.servers import read_side
from tests.receivers.webhook import WebhookReceiver

# The worker and the notifier take seconds to join their consumer groups.
STARTUP_S = 40.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return reach_settings(settings)


@pytest.fixture
async def pipeline(settings: Settings, topics: list[str]) -> AsyncIterator[None]:
    await delivery_topics(settings)
    with read_side(settings), notifier(settings):
        yield


async def _endpoint(api: ApiClient, url: str, **body: Any) -> dict[str, Any]:
    answer = await api.post("/v1/webhooks/endpoints", json={"url": url, **body})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def test_a_failing_receiver_gets_four_signed_attempts_on_schedule_and_a_410_disables(
    api: ApiClient, hooks: WebhookReceiver, pipeline: None
) -> None:
    hooks.fail("/flaky", times=3, status=500)
    hooks.gone("/old")
    flaky = await _endpoint(api, hooks.url_for("/flaky"), event_types=["TicketEnqueued"])
    old = await _endpoint(api, hooks.url_for("/old"), event_types=["TicketEnqueued"])
    queue_id = await api.create_queue()
    ticket = await api.enqueue(queue_id)

    attempts = await hooks.wait_for(4, STARTUP_S, path="/flaky")
    assert [a.status for a in attempts] == [500, 500, 500, 200]
    ids = {a.headers["webhook-id"] for a in attempts}
    assert len(ids) == 1  # one message, four attempts, one id to dedupe by
    for attempt in attempts:  # the receiving side's official library verifies every one
        payload = Webhook(flaky["secret"]).verify(attempt.body, attempt.headers)
        assert payload["type"] == "TicketEnqueued"
        assert payload["data"]["ticket_id"] == ticket["ticket"]["ticket_id"]
    delays = [float(d) for d in SCHEDULE.split(",")]
    gaps = [b.at - a.at for a, b in pairwise(attempts)]
    for gap, delay in zip(gaps, delays, strict=True):
        assert delay * 0.85 <= gap <= delay + 3.0, (gaps, delays)

    # The receiver saw the 200 before the notifier wrote it down: the log settles just after.
    message = await settled_delivery(api, flaky["endpoint_id"])
    assert message["status"] == "delivered"
    assert [a["status"] for a in message["history"]] == [500, 500, 500, 200]
    assert all(a["seconds"] is not None for a in message["history"])

    # The 410: one attempt, then the endpoint is disabled and says why.
    [gone] = await hooks.wait_for(1, STARTUP_S, path="/old")
    assert gone.status == 410
    shown = await _wait_disabled(api, old["endpoint_id"])
    assert "410" in shown["disabled_reason"]
    await api.enqueue(queue_id)
    await hooks.wait_for(5, 10, path="/flaky")  # the next event reaches the live endpoint...
    assert len(hooks.requests("/old")) == 1  # ...and nothing more the disabled one


async def _wait_disabled(api: ApiClient, endpoint_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = await api.http.get(f"/v1/webhooks/endpoints/{endpoint_id}", headers=api.auth())
        shown: dict[str, Any] = answer.json()
        if shown.get("disabled_at") is not None:
            return shown
        await asyncio.sleep(0.1)
    raise AssertionError(f"endpoint {endpoint_id} was not disabled")


async def test_redirects_are_not_followed_and_a_silent_receiver_times_out_and_is_retried(
    api: ApiClient, hooks: WebhookReceiver, pipeline: None
) -> None:
    hooks.redirect("/moved", hooks.url_for("/target"))
    hooks.stall("/silent")
    await _endpoint(api, hooks.url_for("/moved"), event_types=["QueueCreated"])
    await _endpoint(api, hooks.url_for("/silent"), event_types=["QueueCreated"])
    await api.create_queue()
    redirected = await hooks.wait_for(2, STARTUP_S, path="/moved")
    assert all(r.status == 302 for r in redirected)  # a failure, retried, never followed
    assert hooks.requests("/target") == []
    silent = await hooks.wait_for(2, STARTUP_S, path="/silent")  # timed out, then tried again
    assert all(r.status is None for r in silent)
    assert json.loads(silent[0].body)["type"] == "QueueCreated"
