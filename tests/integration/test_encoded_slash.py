"""A path with an encoded slash or backslash (`%2F`, `%5C`, either case) reaches no route: the
router matches the decoded path, so `/v1/queues/<id>%2Fpause` would pause the queue while a proxy
in front saw one segment. Each is a 400 `ambiguous-path` problem before any credential is looked
at (a request without one is not a 401), on the API, the static files and a WebSocket's
handshake alike, and changes nothing. The requests go out through `http.client`, which sends the
path as given (a client that normalises it would test something else), to a real `vq api`.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_processes

PROBLEM = "application/problem+json"


async def test_an_encoded_slash_in_a_path_is_refused_before_any_route(
    settings: Settings, store: PostgresEventStore
) -> None:
    _, admin = await TenantDirectory(store).create_tenant("Clinic")
    auth = {"Authorization": f"Bearer {admin.secret}"}
    with api_processes(settings, [1]) as [api]:
        address = urlsplit(api.url).netloc
        made = await _sent(address, "POST", "/v1/queues", auth, {"name": "Desk", "counters": ["1"]})
        assert made[0] == 201, made
        queue = made[2]["queue_id"]
        refused = {
            path: await _sent(address, method, path, headers)
            for method, path, headers in (
                ("POST", f"/v1/queues/{queue}%2Fpause", auth),  # else: the queue paused
                ("GET", f"/v1/queues/{queue}%2fwaiting", auth),
                ("GET", f"/v1/tickets/x%2F..%2F..%2Fqueues%2F{queue}", {}),  # else: a 401
                ("GET", "/static%2Fvq.js", {}),  # else: the script
                ("GET", "/static%5cvq.js", {}),
                ("GET", f"/v1/queues/{queue}%5C", auth),
            )
        }
        socket = await _handshake(api.url, f"/v1/queues/{queue}%2Fws?access_token={admin.secret}")
        served = {
            path: (await _sent(address, method, path, auth))[0]
            for method, path in (
                ("GET", "/static/vq.js?where=%2F"),  # in the query, %2F is no separator
                ("POST", f"/v1/queues/{queue}/pause"),  # not paused before: nothing changed
            )
        }
        logged = api.logged()
    for path, (status, headers, problem) in refused.items():
        assert (status, headers["content-type"]) == (400, PROBLEM), (path, problem)
        assert problem["type"] == "/problems/ambiguous-path", (path, problem)
        assert problem["instance"] == path, problem
        assert problem["detail"], problem
    assert socket[0] == 400, socket
    assert socket[1]["type"] == "/problems/ambiguous-path", socket
    assert served == {"/static/vq.js?where=%2F": 200, f"/v1/queues/{queue}/pause": 200}
    assert "Traceback" not in logged, logged[-4000:]


async def _sent(
    address: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """Status, headers (lower-case names) and JSON body of one request whose path goes out
    byte for byte as given."""

    def send() -> tuple[int, dict[str, str], Any]:
        connection = http.client.HTTPConnection(address, timeout=10)
        try:
            content = None if body is None else json.dumps(body)
            sent = {**headers, **({"Content-Type": "application/json"} if content else {})}
            connection.request(method, path, body=content, headers=sent)
            answer = connection.getresponse()
            raw = answer.read()
            kind = answer.getheader("content-type", "")
            parsed = json.loads(raw) if "json" in kind else raw
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, parsed
        finally:
            connection.close()

    return await asyncio.to_thread(send)


async def _handshake(url: str, path: str) -> tuple[int, Any]:
    """The status and problem of a refused WebSocket handshake."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url.replace("http://", "ws://") + path):
            pass
    response = refused.value.response
    assert response.headers["content-type"] == PROBLEM, response.headers
    return response.status_code, json.loads(response.body or b"{}")
