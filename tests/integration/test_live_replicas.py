"""Several API processes serve followers of the same queue: each sees every change, in order.
When one process is told to stop (SIGTERM), its streams end at once, between two events, it
exits, and their clients carry on from another process with Last-Event-ID, missing nothing that
matters. Both ways `vq api` runs are stopped: one process, and `--workers 2`."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx
import pytest
from websockets.asyncio.client import connect

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import ApiProcess, api_processes, read_side
from tests.integration.test_live import STARTUP_WAIT_S, WITHIN_S, sse_events

# Timing bounds (streams end within 1.5 s of SIGTERM): run alone, not beside another worker.
pytestmark = pytest.mark.serial

COMMANDS = 20
# After SIGTERM a stopping API ends its open streams within this, and exits within the other:
# well inside uvicorn's grace window (5 s, vq/serve.py), which streams must not wait out. (With
# `--workers`, uvicorn's supervisor passes the signal on within half a second.)
STREAM_END_S = 1.5
EXIT_S = 4.0


@dataclass
class Watch:
    """What one follower saw: the versions, in order, and how each of its connections ended."""

    name: str
    changed: asyncio.Event  # shared by every watch: set whenever any of them sees a version
    versions: list[int] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)  # time.monotonic() at each end
    close_codes: list[int | None] = field(default_factory=list)  # WebSocket only
    failed: BaseException | None = None  # why it stopped following (the test then says so)

    def saw(self, version: int) -> None:
        self.versions.append(version)
        self.changed.set()


async def _watched(follow: Awaitable[None], watch: Watch) -> None:
    """`follow`, and if it stops for any reason but cancellation, what stopped it: a follower
    that fails shows its own error, not a wait for a change that timed out."""
    try:
        await follow
        raise RuntimeError("no process left to follow")
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        watch.failed = exc
        watch.changed.set()
        raise


async def _follow_sse(client: httpx.AsyncClient, urls: list[str], path: str, watch: Watch) -> None:
    """Follow `path` on the first URL; when its stream ends, resume on the next one from the
    last event's id, as EventSource does."""
    for url in urls:
        headers = {"Last-Event-ID": str(watch.versions[-1])} if watch.versions else {}
        async with client.stream("GET", url + path, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            async for event in sse_events(response):
                assert event["event"] == "queue", event
                watch.saw(int(event["id"]))
        watch.ended.append(time.monotonic())


async def _follow_ws(urls: list[str], path: str, key: str, watch: Watch) -> None:
    """The same over the WebSocket (which sends the current view first on every connection)."""
    for url in urls:
        address = url.replace("http://", "ws://") + path
        async with connect(address, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            async for text in ws:  # ends when the server closes with 1000 or 1001
                watch.saw(int(json.loads(text)["version"]))
            watch.close_codes.append(ws.close_code)
        watch.ended.append(time.monotonic())


async def _until_all_saw(watches: list[Watch], version: int) -> None:
    changed = watches[0].changed
    async with asyncio.timeout(WITHIN_S):
        while any(not w.versions or w.versions[-1] < version for w in watches):
            stopped = next((w for w in watches if w.failed is not None), None)
            if stopped is not None:
                raise AssertionError(f"{stopped.name} stopped following") from stopped.failed
            changed.clear()  # no await since the check: no change can slip in between
            await changed.wait()


async def _enqueue(client: httpx.AsyncClient, url: str, queue_id: str) -> int:
    answer = await client.post(f"{url}/v1/queues/{queue_id}/tickets", json={})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["stream_version"])


async def _enqueue_steadily(client: httpx.AsyncClient, url: str, queue_id: str) -> list[int]:
    """COMMANDS enqueues, one every 50 ms (not waiting for anyone to see them)."""
    versions = []
    for _ in range(COMMANDS):
        versions.append(await _enqueue(client, url, queue_id))
        await asyncio.sleep(0.05)
    return versions


def _with_one_gap(seen: list[int], every: list[int]) -> bool:
    """`seen` is `every` with at most one contiguous run left out (the changes superseded while
    the follower switched process: the view it resumed with already holds them)."""
    head = 0
    while head < min(len(seen), len(every)) and seen[head] == every[head]:
        head += 1
    rest = seen[head:]
    return len(rest) <= len(every) - head and rest == every[len(every) - len(rest) :]


@dataclass
class Followers:
    """Who follows the queue, where (each moves on to the next process when its own stops)."""

    moving: list[Watch]  # two SSE streams and a WebSocket: first -> second -> last
    hopping: list[Watch]  # an SSE stream: second -> last
    steady: list[Watch]  # two SSE streams on the last
    tasks: list[asyncio.Task[None]]

    @property
    def everyone(self) -> list[Watch]:
        return self.moving + self.hopping + self.steady


def _follow(
    client: httpx.AsyncClient, servers: list[ApiProcess], queue_id: str, key: str
) -> Followers:
    changed = asyncio.Event()
    moving = [Watch(f"sse-{i}", changed) for i in (1, 2)] + [Watch("ws", changed)]
    hopping, steady = [Watch("sse-3", changed)], [Watch(f"sse-{i}", changed) for i in (4, 5)]
    events, urls = f"/v1/queues/{queue_id}/events", [server.url for server in servers]
    follows = [
        *((_follow_sse(client, urls, events, w), w) for w in moving[:2]),
        (_follow_ws(urls, f"/v1/queues/{queue_id}/ws", key, moving[2]), moving[2]),
        (_follow_sse(client, urls[1:], events, hopping[0]), hopping[0]),
        *((_follow_sse(client, urls[2:], events, w), w) for w in steady),
    ]
    tasks = [asyncio.create_task(_watched(follow, watch)) for follow, watch in follows]
    return Followers(moving, hopping, steady, tasks)


async def test_followers_on_several_api_processes_see_every_change_and_move_when_one_stops(
    settings: Settings, topics: list[str], store: PostgresEventStore, tenant_id: str
) -> None:
    key = (await TenantDirectory(store).create_key(tenant_id, "admin", "admin")).secret
    with api_processes(settings, [1, 2, 1]) as servers, read_side(settings):
        async with httpx.AsyncClient(
            timeout=STARTUP_WAIT_S + 15, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            made = await client.post(f"{servers[0].url}/v1/queues", json={"name": "Gate"})
            queue_id, created = made.json()["queue_id"], made.json()["stream_version"]
            for server in servers:  # the read side has the queue
                params = {"min_version": created, "wait": STARTUP_WAIT_S}
                found = await client.get(f"{server.url}/v1/queues/{queue_id}", params=params)
                assert found.status_code == 200, found.text
            followers = _follow(client, servers, queue_id, key)
            try:
                await _until_all_saw(followers.everyone, created)
                await _every_change_everywhere(client, servers, queue_id, created, followers)
                last = servers[2].url
                await _stop(client, servers[0], last, queue_id, followers, followers.moving)
                ending = followers.moving + followers.hopping
                await _stop(client, servers[1], last, queue_id, followers, ending)
            finally:
                for task in followers.tasks:
                    task.cancel()
                failures = await asyncio.gather(*followers.tasks, return_exceptions=True)
    assert all(isinstance(f, asyncio.CancelledError) for f in failures), failures


async def _every_change_everywhere(
    client: httpx.AsyncClient,
    servers: list[ApiProcess],
    queue_id: str,
    created: int,
    followers: Followers,
) -> None:
    """COMMANDS enqueues, through any process, each seen by every follower before the next:
    every follower, on any process, SSE or WebSocket, saw each version once, in order."""
    versions = [created]
    for index in range(COMMANDS):
        versions.append(await _enqueue(client, servers[index % len(servers)].url, queue_id))
        await _until_all_saw(followers.everyone, versions[-1])
    assert versions == list(range(created, created + COMMANDS + 1))  # one event each
    for watch in followers.everyone:
        assert watch.versions == versions, (watch.name, watch.versions)


async def _stop(
    client: httpx.AsyncClient,
    stopping: ApiProcess,
    staying: str,
    queue_id: str,
    followers: Followers,
    ending: list[Watch],
) -> None:
    """While changes flow, SIGTERM one process: the streams it serves (`ending`) end at once
    (not at the end of the grace window), it exits 0, and they resume on the next process."""
    seen = {w.name: len(w.versions) for w in followers.everyone}
    ends = {w.name: len(w.ended) for w in ending}
    flowing = asyncio.create_task(_enqueue_steadily(client, staying, queue_id))
    await asyncio.sleep(0.3)  # a few changes pushed
    signalled = time.monotonic()
    stopping.proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(stopping.proc.wait, EXIT_S)
    exited = time.monotonic() - signalled
    final = (await flowing)[-1]
    await _until_all_saw(followers.everyone, final)

    assert all(len(w.ended) == ends[w.name] + 1 for w in ending)  # ended once, went on
    ended = {w.name: round(w.ended[-1] - signalled, 3) for w in ending}
    print(f"\nSIGTERM {stopping.url}: streams ended after {ended} s, exit after {exited:.3f} s")
    assert code == 0, stopping.logged()[-3000:]
    assert exited < EXIT_S
    assert all(0 < seconds < STREAM_END_S for seconds in ended.values()), ended
    assert all(w.close_codes[-1:] == [1001] for w in ending if w.close_codes)  # "going away"
    logged = stopping.logged()
    assert "graceful shutdown exceeded" not in logged and "Traceback" not in logged, logged

    reference = followers.steady[0]
    every = reference.versions[seen[reference.name] :]  # each batch the read side pushed
    assert every == sorted(set(every)) and every[-1] == final
    for watch in followers.everyone:
        got = watch.versions[seen[watch.name] :]
        if watch.close_codes:  # the WebSocket resumes with the current view: maybe one it had
            got = [v for i, v in enumerate(got) if i == 0 or v != got[i - 1]]
        if watch in ending:
            assert _with_one_gap(got, every), (watch.name, got, every)
        else:
            assert got == every, (watch.name, got, every)
