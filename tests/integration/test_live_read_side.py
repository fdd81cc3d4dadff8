"""A live follower is told when the read side stops keeping up (query_api/freshness.py): with the
stream worker stopped (SIGSTOP) while people join, a queue's SSE stream says `event: status`
`delayed` within seconds, not "live" with a view that no longer changes; once the worker runs
again, `current`, then the view it had missed. The queue's WebSocket says the same in frames of
`"type": "status"`. Real `vq api`, relay and worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers, read_side
from tests.integration.test_live_stream import Stream, _follow

WITHIN_S = 30.0


async def _until(stream: Stream, kind: bytes) -> list[bytes]:
    """The chunks up to and with the first holding an event of `kind`."""
    chunks: list[bytes] = []
    async with asyncio.timeout(WITHIN_S):
        while not chunks or kind not in chunks[-1]:
            chunks.append(await stream.chunk())
            assert chunks[-1], "the stream ended"
    return chunks


def _events(chunks: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in b"".join(chunks).decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"])))
    return found


async def _desk(http: httpx.AsyncClient) -> str:
    """A new queue, once the read side shows it (the workers keep up: no status yet)."""
    made = await http.post("/v1/queues", json={"name": "Desk", "counters": ["1"]})
    assert made.status_code == 201, made.text
    queue_id, version = made.json()["queue_id"], made.json()["stream_version"]
    read = await http.get(f"/v1/queues/{queue_id}", params={"min_version": version, "wait": 20})
    assert read.status_code == 200, read.text
    return str(queue_id)


async def test_a_stalled_worker_is_said_on_the_live_stream_and_so_is_its_recovery(
    settings: Settings, topics: list[str], store: PostgresEventStore
) -> None:
    # (The workers commit their positions every few seconds: 4 s apart is no stall.)
    settings = settings.model_copy(update={"read_side_stall_s": 4.0})
    _, admin = await TenantDirectory(store).create_tenant("Clinic")
    auth = {"Authorization": f"Bearer {admin.secret}"}
    with read_side(settings) as (worker,), api_servers(settings, 1) as (url,):
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=20) as http:
            queue_id = await _desk(http)
            stream = await _follow(url.removeprefix("http://"), f"/v1/queues/{queue_id}/events",
                                   admin.secret)  # fmt: skip
            try:
                first = _events(await _until(stream, b"event: queue"))
                assert [kind for kind, _ in first] == ["queue"]  # no status while it keeps up
                assert worker.proc is not None
                os.kill(worker.proc.pid, signal.SIGSTOP)
                try:
                    joined = await http.post(f"/v1/queues/{queue_id}/tickets", json={})
                    assert joined.status_code == 201, joined.text
                    delayed = _events(await _until(stream, b"event: status"))
                finally:
                    os.kill(worker.proc.pid, signal.SIGCONT)
                assert [kind for kind, _ in delayed] == ["status"]  # and no view meanwhile
                assert delayed[0][1]["read_side"] == "delayed"
                assert delayed[0][1]["since"].endswith("Z")
                # Running again: the view it had missed, and the read side current again.
                back = _events(await _until(stream, b'"read_side": "current"'))
                assert [data["waiting"] for kind, data in back if kind == "queue"] == [1]
                assert back[-1] == ("status", {"read_side": "current"})
            finally:
                stream.close()


async def _frames_until(socket: ClientConnection, done: Any) -> list[dict[str, Any]]:
    """The WebSocket's frames up to and with the first that `done` accepts."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(WITHIN_S):
        while not frames or not done(frames[-1]):
            frames.append(json.loads(await socket.recv()))
    return frames


def _status(frame: dict[str, Any]) -> bool:
    return frame.get("type") == "status"


async def test_a_stalled_worker_is_said_on_the_queue_websocket_and_so_is_its_recovery(
    settings: Settings, topics: list[str], store: PostgresEventStore
) -> None:
    settings = settings.model_copy(update={"read_side_stall_s": 4.0})
    _, admin = await TenantDirectory(store).create_tenant("Clinic")
    auth = {"Authorization": f"Bearer {admin.secret}"}
    with read_side(settings) as (worker,), api_servers(settings, 1) as (url,):
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=20) as http:
            queue_id = await _desk(http)
            ws_url = url.replace("http://", "ws://") + f"/v1/queues/{queue_id}/ws"
            async with connect(ws_url, additional_headers=auth) as socket:
                first = json.loads(await socket.recv())
                assert "type" not in first and first["waiting"] == 0  # a view; no status
                assert worker.proc is not None
                os.kill(worker.proc.pid, signal.SIGSTOP)
                try:
                    joined = await http.post(f"/v1/queues/{queue_id}/tickets", json={})
                    assert joined.status_code == 201, joined.text
                    delayed = await _frames_until(socket, _status)
                    # A socket opened meanwhile: the delay first, then the view.
                    async with connect(ws_url, additional_headers=auth) as late:
                        opening = [json.loads(await late.recv()) for _ in range(2)]
                finally:
                    os.kill(worker.proc.pid, signal.SIGCONT)
                assert len(delayed) == 1  # no view meanwhile
                assert delayed[0]["read_side"] == "delayed"
                assert delayed[0]["since"].endswith("Z")
                assert opening[0] == delayed[0] and "type" not in opening[1]
                back = await _frames_until(
                    socket, lambda f: _status(f) and f["read_side"] == "current"
                )
                if not [f for f in back if not _status(f)]:  # the view after the status
                    back.append(json.loads(await asyncio.wait_for(socket.recv(), WITHIN_S)))
                assert [f["waiting"] for f in back if not _status(f)] == [1]
                assert {"type": "status", "read_side": "current"} in back
