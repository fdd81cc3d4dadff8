"""Live push on a real API process: SSE for a ticket and a queue, the WebSocket, the board page.

Commands go through the API, the relay and a stream worker; what the subscribers receive comes
from Redis pub/sub, as it would on any replica.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from projections.follower import TicketFollower
from tests.integration.servers import api_servers, read_side

WITHIN_S = 15.0
# A stream worker that just started may take seconds to join its consumer group (longer on a
# busy machine): the first read waits for it this long.
STARTUP_WAIT_S = 30


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Server-Sent Events as dicts of their fields (comments and `retry:` are skipped)."""
    event: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")


async def test_live_push_from_a_real_api_process(
    settings: Settings, topics: list[str], store: PostgresEventStore, tenant_id: str
) -> None:
    """One API process and one read side for both scenarios (a worker takes seconds to start)."""
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    with api_servers(settings, 1) as urls, read_side(settings):
        async with (
            httpx.AsyncClient(
                base_url=urls[0], timeout=WITHIN_S, headers={"Authorization": f"Bearer {key}"}
            ) as staff,
            httpx.AsyncClient(base_url=urls[0], timeout=STARTUP_WAIT_S + 15) as public,
        ):
            await _ticket_counts_down_then_is_called(staff, public)
            await _queue_stream_websocket_resume_and_board(staff, public, key, urls[0])


async def _ticket_counts_down_then_is_called(
    staff: httpx.AsyncClient, customer: httpx.AsyncClient
) -> None:
    """The acceptance: a customer follows the 6th ticket by its token while the five ahead and
    then it are called, and sees 5, 4, 3, 2, 1 and 'called' with the counter, nothing missed."""
    counters = ["1", "2", "3", "4", "5", "6"]
    made = await staff.post("/v1/queues", json={"name": "Lab", "counters": counters})
    queue_id = made.json()["queue_id"]
    tickets = [
        (await staff.post(f"/v1/queues/{queue_id}/tickets", json={})).json() for _ in range(6)
    ]
    mine = tickets[-1]["ticket"]
    params = {
        "token": mine["token"],
        "min_version": tickets[-1]["stream_version"],
        "wait": STARTUP_WAIT_S,
    }
    seen: list[dict[str, str]] = []
    path = f"/v1/tickets/{mine['ticket_id']}/events"
    async with customer.stream("GET", path, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        seen.append(await asyncio.wait_for(anext(events), WITHIN_S))

        async def call(counter: str) -> dict[str, Any]:
            answer = await staff.post(f"/v1/queues/{queue_id}/call-next", json={"counter": counter})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        # All at once: the worker folds several calls in one batch, and the stream must still
        # show every step.
        calls = await asyncio.gather(*(call(c) for c in counters))
        async with asyncio.timeout(WITHIN_S):
            async for event in events:
                seen.append(event)
                if json.loads(event["data"])["status"] != "waiting":
                    break
    views = [json.loads(e["data"]) for e in seen]
    assert [(v["status"], v["position"]) for v in views] == [
        ("waiting", 6),
        ("waiting", 5),
        ("waiting", 4),
        ("waiting", 3),
        ("waiting", 2),
        ("waiting", 1),
        ("called", None),
    ]
    assert [v["people_ahead"] for v in views[:-1]] == [5, 4, 3, 2, 1, 0]
    mine_called = next(c for c in calls if c["ticket"]["ticket_id"] == mine["ticket_id"])
    assert views[-1]["counter"] == mine_called["ticket"]["counter"]
    assert views[-1]["called_at"] is not None
    assert {e["event"] for e in seen} == {"ticket"}
    ids = [int(e["id"]) for e in seen]
    assert ids == sorted(set(ids)) and ids[-1] == max(c["stream_version"] for c in calls)
    assert [v["version"] for v in views] == ids


async def _queue_stream_websocket_resume_and_board(
    staff: httpx.AsyncClient, browser: httpx.AsyncClient, key: str, base_url: str
) -> None:
    made = await staff.post("/v1/queues", json={"name": "Desk", "counters": ["1"]})
    queue_id, created = made.json()["queue_id"], made.json()["stream_version"]

    async def enqueue() -> int:
        answer = await staff.post(f"/v1/queues/{queue_id}/tickets", json={})
        return int(answer.json()["stream_version"])

    stream = f"/v1/queues/{queue_id}/events"
    params = {"access_token": key, "min_version": created, "wait": STARTUP_WAIT_S}
    async with browser.stream("GET", stream, params=params) as response, asyncio.timeout(WITHIN_S):
        events = sse_events(response)
        first = await anext(events)
        assert (first["event"], first["id"]) == ("queue", str(created))
        assert json.loads(first["data"])["waiting"] == 0
        version = await enqueue()
        pushed = await anext(events)
        assert (pushed["id"], json.loads(pushed["data"])["waiting"]) == (str(version), 1)

    # Resumed with the last id it has: no repeat of that view, the next change only.
    headers = {"Last-Event-ID": str(version)}
    async with (
        browser.stream("GET", stream, params={"access_token": key}, headers=headers) as response,
        asyncio.timeout(WITHIN_S),
    ):
        events = sse_events(response)
        version = await enqueue()
        resumed = await anext(events)
        assert resumed["id"] == str(version)

    ws_url = base_url.replace("http://", "ws://") + f"/v1/queues/{queue_id}/ws"
    async with connect(f"{ws_url}?access_token={key}") as socket, asyncio.timeout(WITHIN_S):
        current = json.loads(await socket.recv())
        assert (current["version"], current["waiting"]) == (version, 2)
        version = await enqueue()
        pushed_ws = json.loads(await socket.recv())
        assert (pushed_ws["version"], pushed_ws["waiting"]) == (version, 3)
        assert pushed_ws["next"][2]["position"] == 3
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ws_url}?access_token=vq_wrong"):
            pass
    assert refused.value.response.status_code == 401

    await _board(browser, queue_id, key)


async def _board(browser: httpx.AsyncClient, queue_id: str, key: str) -> None:
    """The board is served once the key of its link (`?access_token=`) reads the queue; a wrong
    key or another queue is refused before any page. Its script follows the queue's stream with
    the key as a header, never in the stream's address. Without a key in the query (a link with
    `#key=`, which no server sees) the page, holding no data, is served."""
    board = await browser.get(f"/board/{queue_id}", params={"access_token": key})
    assert board.status_code == 200 and board.headers["content-type"].startswith("text/html")
    found = re.search(r'src="(/static/board\.js\?v=[0-9a-f]+)"', board.text)
    assert found is not None, board.text
    script = (await browser.get(found[1])).text
    assert "VQ.follow(" in script and "EventSource" not in script and "http" not in script
    wrong = await browser.get(f"/board/{queue_id}", params={"access_token": "vq_wrong"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    elsewhere = await browser.get(f"/board/{uuid.uuid4()}", params={"access_token": key})
    assert elsewhere.status_code == 404 and elsewhere.json()["type"] == "/problems/not-found"
    shell = await browser.get(f"/board/{queue_id}")
    assert shell.status_code == 200 and ">Desk<" not in shell.text


def _change(version: int, ticket_id: str | None, **fields: Any) -> dict[str, Any]:
    return {
        "version": version,
        "type": fields.pop("type", "TicketCalled"),
        "at": "",
        "ticket_id": ticket_id,
        "number": None,
        "status": None,
        "counter": None,
        "left": None,
        "joined": None,
        "shifted": [],
        **fields,
    }


_NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_the_follower_folds_every_change_of_a_batch() -> None:
    """No servers: what the ticket stream does with one batch of many changes, and a gap."""
    view = {
        "ticket_id": "me",
        "queue_id": "q",
        "status": "waiting",
        "position": 5,
        "people_ahead": 4,
        "counter": None,
        "called_at": None,
        "version": 10,
    }
    follower = TicketFollower("me", view, None)
    fold = follower.fold(
        {
            "version": 15,
            "changes": [
                _change(11, "a", status="called", counter="1", left=1),  # ahead of me: 5 -> 4
                _change(
                    12, "b", type="TicketEnqueued", status="waiting", joined=9
                ),  # behind: stays
                _change(13, "c", type="TicketPriorityChanged", status="waiting", left=8, joined=2),
                _change(14, "d", status="cancelled", left=6),  # behind me now: stays 5
                _change(15, "me", status="called", counter="3", left=5),
            ],
        }
    )
    assert (fold.touched, fold.reread) == (True, False)
    views = follower.views(fold, {**view, "called_at": "now", "version": 15}, _NOW)
    assert [(v["version"], v["status"], v["position"], v["counter"]) for v in views] == [
        (11, "waiting", 4, None),
        (13, "waiting", 5, None),
        (15, "called", None, "3"),
    ]
    assert [v["called_at"] for v in views] == [None, None, "now"]
    assert [v["people_ahead"] for v in views] == [3, 4, None]
    # A message lost on the way (16 never came): the follower asks for a fresh read.
    gap = follower.fold({"version": 18, "changes": [_change(17, "x"), _change(18, "y")]})
    assert (gap.steps, gap.reread) == ([], True)
    # Reconfiguring the queue may reorder the whole line: read it again.
    again = TicketFollower("me", {**view, "version": 20}, None)
    assert again.fold(
        {"version": 21, "changes": [_change(21, None, type="QueueReconfigured")]}
    ).reread


def test_the_follower_shows_a_new_wait_range_even_when_the_line_did_not_move() -> None:
    view = {
        "ticket_id": "me",
        "queue_id": "q",
        "status": "waiting",
        "position": 2,
        "people_ahead": 1,
        "counter": None,
        "version": 10,
    }
    follower = TicketFollower("me", view, None)
    eta = {
        "p10_at": "2026-11-22T10:01:00+00:00",
        "p50_at": "2026-11-22T10:02:00+00:00",
        "p90_at": "2026-11-22T10:04:00+00:00",
        "estimated_at": "2026-11-22T09:59:00+00:00",
        "estimator": "rules",
        "ahead": 1,
        "version": 11,
    }
    fold = follower.fold(
        {
            "version": 11,
            "etas": {"me": eta},
            "changes": [_change(11, "z", type="TicketEnqueued", status="waiting", joined=3)],
        }
    )  # behind me
    [shown] = follower.views(fold, None, _NOW)
    assert (shown["version"], shown["position"]) == (11, 2)
    assert (
        shown["estimate"]["p10_seconds"],
        shown["estimate"]["p50_seconds"],
        shown["estimate"]["p90_seconds"],
    ) == (60, 120, 240)
    # Called: no range any more.
    called = follower.fold(
        {"version": 12, "changes": [_change(12, "me", status="called", counter="1", left=2)]}
    )
    assert [v["estimate"] for v in follower.views(called, None, _NOW)] == [None]
