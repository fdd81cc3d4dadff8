"""The query API on real read models: commands go through the API, the relay and a stream worker
fold them into Redis, and every read with `min_version` sees its own write."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis

from core.settings import Settings
from projections.layout import Keys
from tests.integration.conftest import ApiClient
from tests.integration.servers import read_side
from vq.api import create_app

PROBLEM = "application/problem+json"
# A stream worker that just started may take seconds to join its consumer group (longer on a
# busy machine): the first read waits for it this long; reads after that use the default wait.
STARTUP_WAIT_S = 30


async def _read_side_ready(api: ApiClient, queue_id: str) -> None:
    ready = await _get(api, f"/v1/queues/{queue_id}", min_version=1, wait=STARTUP_WAIT_S)
    assert ready.status_code == 200, ready.text


async def _get(api: ApiClient, path: str, role: str = "admin", **params: Any) -> httpx.Response:
    return await api.http.get(path, headers=api.auth(role), params=params)


async def test_queries_on_read_models_a_real_worker_folds(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    """One read side for all the scenarios: a stream worker takes seconds to join its group."""
    queues = [await api.create_queue(prefix=p) for p in "RAB"]
    with read_side(settings):
        for queue_id in queues:
            await _read_side_ready(api, queue_id)
        await _reads_after_writes_with_min_version(api, queues)
        await _tenancy_and_tokens(api, queues[0])
        await _enqueue_then_read_the_ticket_never_404_nor_older(api, queues[1:])
        await _transfer_then_read_the_receiving_queue_never_stale(api, queues[1:])
        await _a_ticket_the_views_forgot_is_a_404_not_a_wait(api, queues[0], settings)
        await _a_ticket_its_first_queue_forgot_is_read_where_it_moved(api, queues[1:], settings)
        await _a_paused_queue_is_said_on_its_waiting_tickets(api)


async def _a_ticket_the_views_forgot_is_a_404_not_a_wait(
    api: ApiClient, queue_id: str, settings: Settings
) -> None:
    """A ticket the system of record has and the read model of its queue no longer holds (it
    ended 5,000 finished tickets ago: FINISHED_RETENTION), that read model having all the queue's
    events: a read asked to wait (`min_version`, as the ticket page asks for a ticket it has
    never seen) is a 404 at once, not a 409 stale-read after the wait (no wait would bring it).
    The forgetting is played by dropping the ticket's keys."""
    made = await api.enqueue(queue_id)
    ticket_id, version = made["ticket"]["ticket_id"], made["stream_version"]
    path = f"/v1/tickets/{ticket_id}"
    assert (await _get(api, path, min_version=version)).status_code == 200
    keys = Keys(settings.redis_prefix)
    async with aioredis.Redis.from_url(settings.redis_dsn) as redis:
        await redis.delete(
            keys.home(api.tenant_id, ticket_id), keys.ticket(api.tenant_id, queue_id, ticket_id)
        )
    for params in ({"min_version": 1, "wait": 10}, {"min_version": 1, "wait": 0}, {}):
        forgotten = await _get(api, path, **params)
        assert forgotten.status_code == 404, (params, forgotten.text)
        assert forgotten.json()["type"] == "/problems/not-found"
    token = {"X-Ticket-Token": made["ticket"]["token"]}  # the ticket's own page, by its token
    stream = await api.http.get(f"{path}/events", headers=token, params={"min_version": 1})
    assert stream.status_code == 404, stream.text
    # Its member left in the line without its view (damage, as an evicted key would be): a page
    # of the line leaves it out (it was a 500: a view without its fields).
    page = await _get(api, f"/v1/queues/{queue_id}/waiting", limit=100)
    assert page.status_code == 200, page.text
    assert ticket_id not in [t["ticket_id"] for t in page.json()["tickets"]]


async def _a_paused_queue_is_said_on_its_waiting_tickets(api: ApiClient) -> None:
    """While calling is paused a waiting ticket's read, and every ticket of a page of the line,
    say so (`queue_status`): the wait range does not know the pause."""
    queue_id = await api.create_queue(prefix="P")
    ticket_id = (await api.enqueue(queue_id))["ticket"]["ticket_id"]
    for action, status in (("pause", "paused"), ("resume", "open"), ("close", "closed")):
        done = await api.post(f"/v1/queues/{queue_id}/{action}", "staff")
        assert done.status_code == 200, done.text
        version = done.json()["stream_version"]
        mine = await _get(api, f"/v1/tickets/{ticket_id}", min_version=version)
        assert (mine.json()["status"], mine.json()["queue_status"]) == ("waiting", status)
        page = await _get(api, f"/v1/queues/{queue_id}/waiting", min_version=version)
        assert {t["queue_status"] for t in page.json()["tickets"]} == {status}, action


async def _a_ticket_its_first_queue_forgot_is_read_where_it_moved(
    api: ApiClient, queues: list[str], settings: Settings
) -> None:
    """A ticket moved on from the queue it joined, which forgot it since (5,000 tickets finished
    there later: FINISHED_RETENTION; played by dropping its view there as the writer does, the
    ticket's home key left as it leaves it): read by id, with or without `min_version`, and by
    its token, it is where it waits now, not a 404."""
    here, there = queues
    made = await api.enqueue(here)
    ticket_id = made["ticket"]["ticket_id"]
    moved = await api.post(
        f"/v1/tickets/{ticket_id}/transfer", "staff", json={"to_queue_id": there}
    )
    assert moved.status_code == 200, moved.text
    version = moved.json()["target"]["stream_version"]
    path = f"/v1/tickets/{ticket_id}"
    assert (await _get(api, path, min_version=version)).status_code == 200
    keys = Keys(settings.redis_prefix)
    async with aioredis.Redis.from_url(settings.redis_dsn) as redis:
        assert await redis.get(keys.home(api.tenant_id, ticket_id)) == here.encode()
        await redis.delete(keys.ticket(api.tenant_id, here, ticket_id))
        await redis.srem(keys.ticket_index(api.tenant_id, here), ticket_id)
    for params in ({}, {"min_version": version, "wait": 5}):
        read = await _get(api, path, **params)
        assert read.status_code == 200, (params, read.text)
        assert (read.json()["queue_id"], read.json()["status"]) == (there, "waiting")
    token = {"X-Ticket-Token": made["ticket"]["token"]}  # as its own page reads it
    mine = await api.http.get(path, headers=token)
    assert mine.status_code == 200, mine.text
    assert mine.json()["queue_id"] == there


async def _transfer_then_read_the_receiving_queue_never_stale(
    api: ApiClient, queues: list[str]
) -> None:
    """A transfer answers both queues' versions; reading the receiving queue at its version
    shows the ticket there, where the answer put it, every time."""
    ticket = (await api.enqueue(queues[0]))["ticket"]
    here, there = queues
    for hop in range(8):
        moved = await api.post(
            f"/v1/tickets/{ticket['ticket_id']}/transfer", "staff", json={"to_queue_id": there}
        )
        assert moved.status_code == 200, moved.text
        answer = moved.json()
        assert answer["queue_id"] == here and answer["target"]["queue_id"] == there
        version = answer["target"]["stream_version"]
        placed = answer["ticket"]
        assert (placed["queue_id"], placed["status"]) == (there, "waiting")
        read = await _get(api, f"/v1/tickets/{ticket['ticket_id']}", min_version=version)
        assert read.status_code == 200, read.text
        assert int(read.headers["X-Stream-Version"]) >= version
        assert (read.json()["queue_id"], read.json()["status"]) == (there, "waiting"), hop
        assert read.json()["position"] == placed["position"]
        line = await _get(api, f"/v1/queues/{there}/waiting", min_version=version)
        assert ticket["ticket_id"] in [t["ticket_id"] for t in line.json()["tickets"]]
        source = await _get(api, f"/v1/queues/{here}", min_version=answer["stream_version"])
        assert ticket["ticket_id"] not in [n["ticket_id"] for n in source.json()["next"]]
        here, there = there, here


async def _reads_after_writes_with_min_version(api: ApiClient, queues: list[str]) -> None:
    queue_id = queues[0]
    normal = [await api.enqueue(queue_id) for _ in range(6)]
    vip = await api.enqueue(queue_id, priority="vip")  # goes to the front
    version = vip["stream_version"]
    line = [vip, *normal]
    ids = [e["ticket"]["ticket_id"] for e in line]

    one = await _get(api, f"/v1/queues/{queue_id}", "viewer", min_version=version)
    assert one.status_code == 200, one.text
    assert one.headers["X-Stream-Version"] == str(version)
    body = one.json()
    assert (body["version"], body["waiting"], body["name"]) == (version, 7, "Front desk")
    assert body["waiting_by_priority"]["vip"] == 1
    assert [n["ticket_id"] for n in body["next"]] == ids

    listed = await _get(api, "/v1/queues", "kiosk", queue_id=queue_id, min_version=version)
    assert [q["queue_id"] for q in listed.json()["queues"]] == queues
    assert [q["waiting"] for q in listed.json()["queues"]] == [7, 0, 0]
    assert listed.headers["X-Stream-Version"] == str(version)

    pages = []
    for offset in (0, 3, 6):
        page = await _get(
            api,
            f"/v1/queues/{queue_id}/waiting",
            "staff",
            offset=offset,
            limit=3,
            min_version=version,
        )
        assert page.status_code == 200, page.text
        assert (page.json()["total"], page.json()["version"]) == (7, version)
        pages.extend(page.json()["tickets"])
    assert [t["position"] for t in pages] == [1, 2, 3, 4, 5, 6, 7]
    assert [t["ticket_id"] for t in pages] == ids
    assert [t["people_ahead"] for t in pages] == [0, 1, 2, 3, 4, 5, 6]
    assert {t["queue_status"] for t in pages} == {"open"}  # (the ticket page's "paused")

    last = ids[-1]
    ticket = await _get(api, f"/v1/tickets/{last}", min_version=version)
    assert ticket.status_code == 200, ticket.text
    assert ticket.json() | {"enqueued_at": None, "estimate": None} == ticket.json() | {
        "ticket_id": last,
        "queue_id": queue_id,
        "status": "waiting",
        "queue_status": "open",
        "position": 7,
        "people_ahead": 6,
        "counter": None,
        "estimate": None,
        "version": version,
        "number": line[-1]["ticket"]["number"],
        "enqueued_at": None,
        "waited_seconds": None,
    }
    assert "line" not in ticket.json()
    # A waiting ticket has a range, now and as given when it joined (5 ahead then: the VIP
    # came later and went in front).
    estimate, promised = ticket.json()["estimate"], ticket.json()["estimate_at_enqueue"]
    assert 0 <= estimate["p10_seconds"] <= estimate["p50_seconds"] <= estimate["p90_seconds"]
    assert estimate["p90_seconds"] > 0 and estimate["estimator"] in ("rules", "learned")
    assert promised["ahead"] == 5 and promised["p50_seconds"] > 0
    summary = (await _get(api, f"/v1/queues/{queue_id}", "staff")).json()["estimate"]
    # "Wait if you join now": somebody behind the last in line (issue 17), never sooner.
    assert summary["ahead"] == 7 and summary["p50_at"] >= estimate["p50_at"]
    assert summary["basis"] in ("history", "few services yet")

    called = await api.post(f"/v1/queues/{queue_id}/call-next", "staff", json={"counter": "2"})
    v = called.json()["stream_version"]
    first = await _get(api, f"/v1/tickets/{ids[0]}", min_version=v)
    assert (first.json()["status"], first.json()["counter"], first.json()["position"]) == (
        "called",
        "2",
        None,
    )
    assert first.json()["called_at"] is not None
    assert first.json()["estimate"] is None and first.json()["waited_seconds"] >= 0
    moved = await _get(api, f"/v1/tickets/{last}", min_version=v)
    assert (moved.json()["position"], moved.headers["X-Stream-Version"]) == (6, str(v))

    # Past the bound: a 409 that tells how far the read model is, never stale data (at once for
    # a version the queue never had, as for the queue's own reads below: waiting would not help).
    started = time.monotonic()
    stale = await _get(api, f"/v1/tickets/{last}", min_version=v + 100, wait=0.5)
    assert time.monotonic() - started < 5
    assert stale.status_code == 409 and stale.headers["content-type"] == PROBLEM
    assert (stale.json()["type"], stale.json()["version"]) == ("/problems/stale-read", v)
    assert stale.headers["Retry-After"] and stale.headers["X-Stream-Version"] == str(v)
    for path in (f"/v1/queues/{queue_id}", f"/v1/queues/{queue_id}/waiting"):
        # A version the queue never had: no point waiting, the answer comes at once.
        started = time.monotonic()
        stale = await _get(api, path, min_version=v + 100, wait=10)
        assert (stale.status_code, stale.json()["version"]) == (409, v), path
        assert time.monotonic() - started < 5
    for path in (f"/v1/queues/{uuid.uuid4()}", f"/v1/tickets/{uuid.uuid4()}"):
        unknown = await _get(api, path, min_version=1, wait=10)  # unknown: 404 at once
        assert unknown.status_code == 404, path


async def _tenancy_and_tokens(api: ApiClient, queue_id: str) -> None:
    other = {"Authorization": f"Bearer {api.other_tenant_key}"}
    made = [await api.enqueue(queue_id) for _ in range(2)]
    mine, theirs = made[0]["ticket"], made[1]["ticket"]
    ready = await _get(api, f"/v1/queues/{queue_id}", min_version=made[1]["stream_version"])
    assert ready.status_code == 200, ready.text
    for path in (
        f"/v1/queues/{queue_id}",
        f"/v1/queues/{queue_id}/waiting",
        f"/v1/tickets/{mine['ticket_id']}",
        f"/v1/queues/{uuid.uuid4()}",
        f"/v1/tickets/{uuid.uuid4()}",
        f"/v1/queues/{uuid.uuid4()}/waiting",
    ):
        response = await api.http.get(path, headers=other)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "/problems/not-found"
    assert (await api.http.get("/v1/queues", headers=other)).json() == {"queues": []}

    path = f"/v1/tickets/{mine['ticket_id']}"
    assert (await api.http.get(path, params={"token": mine["token"]})).status_code == 200
    by_header = await api.http.get(path, headers={"X-Ticket-Token": mine["token"]})
    assert by_header.json()["ticket_id"] == mine["ticket_id"]
    by_query_key = await api.http.get(path, params={"access_token": api.keys["viewer"]})
    assert by_query_key.status_code == 200
    # A ticket's token reads that ticket only, and says nothing about any other: a token that
    # does not open the ticket is no credential (401), whether the id names a ticket or not.
    for ticket_id, token in (
        (theirs["ticket_id"], mine["token"]),
        (str(uuid.uuid4()), mine["token"]),
        (mine["ticket_id"], "not-a-token"),
    ):
        response = await api.http.get(f"/v1/tickets/{ticket_id}", params={"token": token})
        assert response.status_code == 401, response.text
    anonymous = await api.http.get(path)
    assert anonymous.status_code == 401 and anonymous.json()["type"] == "/problems/unauthorized"
    assert (await api.http.get(f"/v1/queues/{queue_id}")).status_code == 401
    bad_key = await api.http.get(f"/v1/queues/{queue_id}", params={"access_token": "vq_nope"})
    assert bad_key.status_code == 401


async def _enqueue_then_read_the_ticket_never_404_nor_older(
    api: ApiClient, queues: list[str]
) -> None:

    async def enqueue_and_read(n: int) -> None:
        made = await api.enqueue(queues[n % 2])
        ticket, version = made["ticket"], made["stream_version"]
        read = await api.http.get(
            f"/v1/tickets/{ticket['ticket_id']}",
            params={"min_version": version, "token": ticket["token"]},
        )
        assert read.status_code == 200, read.text
        assert read.json()["version"] >= version
        assert read.json()["number"] == ticket["number"]
        assert read.json()["status"] == "waiting"

    for batch in range(5):  # 10 at a time: reads race the worker on both queues
        await asyncio.gather(*(enqueue_and_read(batch * 10 + i) for i in range(10)))
    for queue_id in queues:
        page = await _get(api, f"/v1/queues/{queue_id}/waiting", limit=500)
        assert [t["position"] for t in page.json()["tickets"]] == list(range(1, 26))


async def test_redis_unreachable_is_503_with_retry_after(settings: Settings) -> None:
    dead = settings.model_copy(update={"redis_url": "redis://127.0.0.1:9/0"})
    app = create_app(dead)
    async with app.router.lifespan_context(app):
        _, admin = await app.state.services.directory.create_tenant("Dark")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            auth = {"Authorization": f"Bearer {admin.secret}"}
            # The app's first request pays its one-time set-up (0.25 s on a quiet machine, 2.9
            # under make test's load): it is asked first and not timed, still a 503. Each of the
            # timed ones is answered at once (6-33 ms quiet), not after a back-off or a timeout.
            assert (await http.get("/v1/queues", headers=auth)).status_code == 503
            for path in (
                "/v1/queues",
                f"/v1/queues/{uuid.uuid4()}",
                f"/v1/queues/{uuid.uuid4()}/waiting",
                f"/v1/tickets/{uuid.uuid4()}",
                f"/v1/queues/{uuid.uuid4()}/events",
            ):
                started = time.monotonic()
                response = await http.get(path, headers=auth)
                assert time.monotonic() - started < 2.0, path
                assert response.status_code == 503, (path, response.text)
                assert response.headers["Retry-After"] == "2"
                assert response.json()["type"] == "/problems/service-unavailable"


async def test_openapi_documents_every_query(api: ApiClient) -> None:
    spec = (await api.http.get("/openapi.json")).json()
    for path in (
        "/v1/queues",
        "/v1/queues/{queue_id}",
        "/v1/queues/{queue_id}/waiting",
        "/v1/tickets/{ticket_id}",
        "/v1/tickets/{ticket_id}/events",
        "/v1/queues/{queue_id}/events",
    ):
        operation = spec["paths"][path]["get"]
        assert operation["tags"] == ["queries"], path
        assert {"200", "401", "404"} <= set(operation["responses"]), path
        params = {p["name"] for p in operation["parameters"]}
        assert {"access_token", "min_version", "wait"} <= params, path
        assert "409" in operation["responses"], path
    # The board is a page (public: it holds no data), whose link may carry its key.
    board = spec["paths"]["/board/{queue_id}"]["get"]
    assert board["tags"] == ["pages"] and board["x-permission"] == "public"
    assert {"200", "401", "404"} <= set(board["responses"])
    assert {"access_token", "lang"} <= {p["name"] for p in board["parameters"]}
    waiting = spec["paths"]["/v1/queues/{queue_id}/waiting"]["get"]["parameters"]
    limit = next(p for p in waiting if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 500, 50)
    ticket = spec["paths"]["/v1/tickets/{ticket_id}"]["get"]["parameters"]
    assert {"token", "X-Ticket-Token"} <= {p["name"] for p in ticket}
