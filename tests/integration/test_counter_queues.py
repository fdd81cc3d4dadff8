"""A counter serving several queues calls from the one whose next person has waited longest (or
longest for its weight), never while it still has somebody in one of them."""

from __future__ import annotations

import asyncio
from typing import Any

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.servers import read_side

STARTUP_WAIT_S = 30  # a stream worker that just started takes seconds to join its group


async def _seen(api: ApiClient, answer: dict[str, Any]) -> None:
    """Wait until the read models hold what `answer` (a command's) wrote."""
    versions = {answer["queue_id"]: answer["stream_version"]}
    for queue_id, version in versions.items():
        read = await api.http.get(
            f"/v1/queues/{queue_id}",
            headers=api.auth("admin"),
            params={"min_version": version, "wait": STARTUP_WAIT_S},
        )
        assert read.status_code == 200, read.text


async def _join(api: ApiClient, queue_id: str) -> str:
    made = await api.enqueue(queue_id)
    await _seen(api, made)
    await asyncio.sleep(0.05)  # the next one joins strictly later
    return str(made["ticket"]["ticket_id"])


async def _call(api: ApiClient, body: dict[str, Any]) -> Any:
    return await api.post("/v1/counters/call-next", "staff", json={"counter": "1", **body})


async def _serve(api: ApiClient, ticket_id: str) -> None:
    for step in ("start", "complete"):
        done = await api.post(f"/v1/tickets/{ticket_id}/{step}", "staff")
        assert done.status_code == 200, done.text
    await _seen(api, done.json())


async def test_the_longest_wait_is_called_first_across_queues(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    a = await api.create_queue(name="Deposits", counters=["1", "2"])
    b = await api.create_queue(name="Loans", counters=["1", "2"])
    both = {"queue_ids": [a, b]}
    with read_side(settings):
        a1, b1, a2 = await _join(api, a), await _join(api, b), await _join(api, a)

        first = await _call(api, both)
        assert first.status_code == 200, first.text
        assert (first.json()["queue_id"], first.json()["ticket"]["ticket_id"]) == (a, a1)
        await _seen(api, first.json())
        busy = await _call(api, both)
        assert busy.status_code == 409 and busy.json()["type"].endswith("counter-busy")
        await _serve(api, a1)

        second = await _call(api, both)
        assert second.json()["ticket"]["ticket_id"] == b1, "b1 joined before a2"
        assert second.json()["tried"] == [b]
        await _seen(api, second.json())
        await _serve(api, b1)

        b2 = await _join(api, b)
        await asyncio.sleep(1.0)  # b2 waited 1 s or more (x100), a2 some seconds: b2 outranks
        weighted = await _call(api, {**both, "rule": "weighted", "weights": {b: 100.0}})
        assert weighted.status_code == 200, weighted.text
        assert weighted.json()["ticket"]["ticket_id"] == b2, "its weight outranks a2's wait"
        await _seen(api, weighted.json())
        await _serve(api, b2)

        last = await _call(api, both)
        assert last.json()["ticket"]["ticket_id"] == a2
        await _seen(api, last.json())
        await _serve(api, a2)
        empty = await _call(api, both)
        assert empty.status_code == 409 and empty.json()["type"].endswith("queue-empty")
        foreign = await _call(api, {"queue_ids": [a, "00000000-0000-4000-8000-000000000000"]})
        assert foreign.status_code == 404, foreign.text
