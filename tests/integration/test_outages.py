"""PostgreSQL stopped: commands answer 503 with Retry-After fast; restarted: they work again."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from core.settings import Settings
from tests.integration.conftest import ApiClient

pytestmark = [
    pytest.mark.skipif(
        bool(os.environ.get("VQ_DATABASE_URL")), reason="stops the local stack's PostgreSQL"
    ),
    pytest.mark.serial,
]


async def test_postgres_down_gives_503_then_recovers_without_restart(api: ApiClient) -> None:
    from deploy import stack

    local = Settings()
    queue_id = await api.create_queue(counters=["1", "2", "3"])
    await api.enqueue(queue_id)

    await asyncio.to_thread(stack.down, local, ["postgresql"])
    try:
        for _ in range(3):  # broken pooled connections and new ones alike
            started = time.monotonic()
            response = await api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={})
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == "/problems/service-unavailable"
            assert int(response.headers["retry-after"]) > 0
            assert elapsed < 2.0, f"503 took {elapsed:.2f}s"
    finally:
        await asyncio.to_thread(stack.up, local, ["postgresql"])

    deadline = time.monotonic() + 20
    while True:
        response = await api.post(f"/v1/queues/{queue_id}/tickets", "kiosk", json={})
        if response.status_code == 201:
            break
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the API did not recover after PostgreSQL came back"
        await asyncio.sleep(0.2)
    # Nothing was half-written during the outage: the line holds the two tickets that succeeded.
    called = await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "1"})
    assert called.json()["ticket"]["number"] == "A-001"
    second = await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "2"})
    assert second.json()["ticket"]["number"] == "A-002"
    empty = await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "3"})
    assert empty.status_code == 409
