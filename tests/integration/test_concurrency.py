"""Many processes call "next" on one queue through two API processes while others enqueue.

Every ticket must be called exactly once, each call must take the head of the line as it stood
when that call was decided (policy order), and the line's positions must stay exactly 1..n.

The clients behave as the API's contract asks: a 503 (the queue's turn not had within the API's
wait, on a machine loaded by the rest of the suite) is retried after its Retry-After with the same
Idempotency-Key, so a retry of a command that did commit answers as the first run did.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter
from typing import Any

import httpx

from core.settings import Settings
from domain.events import TicketCalled, TicketEnqueued
from domain.evolve import evolve
from domain.state import initial_state, next_ticket, position, waiting_ids
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers

PRIORITIES = ("normal", "normal", "normal", "vip", "urgent", "emergency")
BUSY_RETRIES = 30


def _post(http: httpx.Client, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    """POST once, and again after each 503's Retry-After (bounded), with the same key."""
    for _ in range(BUSY_RETRIES):
        response = http.post(path, json=body, headers={"Idempotency-Key": key})
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers["Retry-After"]))
    return response


def _enqueuer(url: str, key: str, queue_id: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    made = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for n in range(count):
            response = _post(
                http,
                f"/v1/queues/{queue_id}/tickets",
                {"priority": rng.choice(PRIORITIES)},
                f"enq-{seed}-{n}",
            )
            assert response.status_code == 201, response.text
            made.append(response.json()["ticket"]["ticket_id"])
    return made


def _caller(url: str, key: str, queue_id: str, counter: str, stop_after_empty: int) -> list[str]:
    """Call next until the queue has been empty `stop_after_empty` times in a row."""
    called = []
    empty_in_a_row = 0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        path = f"/v1/queues/{queue_id}/call-next"
        while empty_in_a_row < stop_after_empty:
            key = f"call-{counter}-{len(called)}-{empty_in_a_row}"
            response = _post(http, path, {"counter": counter}, key)
            if response.status_code == 409 and response.json()["type"] == "/problems/queue-empty":
                empty_in_a_row += 1
                continue
            assert response.status_code == 200, response.text
            empty_in_a_row = 0
            called.append(response.json()["ticket"]["ticket_id"])
    return called


async def test_four_callers_and_two_enqueuers_on_one_queue(
    settings: Settings, store: PostgresEventStore, tenant_id: str
) -> None:
    from access.directory import TenantDirectory

    directory = TenantDirectory(store)
    admin = (await directory.create_key(tenant_id, "admin", "admin")).secret
    staff = (await directory.create_key(tenant_id, "staff", "staff")).secret

    with api_servers(settings, 2) as urls:
        async with httpx.AsyncClient(
            base_url=urls[0], headers={"Authorization": f"Bearer {admin}"}
        ) as http:
            created = await http.post(
                "/v1/queues",
                # Each caller calls again at once: the call closes its previous visit first.
                json={
                    "name": "Stadium gate",
                    "counters": ["1", "2", "3", "4"],
                    "busy_counter_policy": "close_previous",
                },
            )
            assert created.status_code == 201, created.text
            queue_id = created.json()["queue_id"]

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(6) as pool:
            # 2,000 waiting before anybody calls (four enqueuers, both API processes).
            prefill = [
                pool.apply_async(_enqueuer, (urls[i % 2], admin, queue_id, 500, i))
                for i in range(4)
            ]
            made = [t for job in prefill for t in job.get(timeout=300)]
            callers = [
                pool.apply_async(_caller, (urls[i % 2], staff, queue_id, str(i + 1), 20))
                for i in range(4)
            ]
            late = [
                pool.apply_async(_enqueuer, (urls[i % 2], admin, queue_id, 150, 100 + i))
                for i in range(2)
            ]
            made += [t for job in late for t in job.get(timeout=300)]
            called_by: list[list[str]] = [job.get(timeout=300) for job in callers]

    # A last sweep: the callers may have stopped just before the last late enqueue committed.
    events = await store.read_stream(queue_id)
    called = [t for batch in called_by for t in batch]
    assert len(made) == 2300
    assert all(len(batch) > 0 for batch in called_by), "every caller got work"
    times_called = Counter(e.event.ticket_id for e in events if isinstance(e.event, TicketCalled))
    assert set(times_called) <= set(made) and max(times_called.values()) == 1
    assert len(called) == len(set(called)) == len(times_called)
    leftover = set(made) - set(times_called)
    assert len(leftover) <= 1  # at most the very last late arrival, after everybody stopped

    # Replay the stream: each call took the head of the line, and positions stayed 1..n.
    state = initial_state(queue_id)
    for recorded in events:
        event = recorded.event
        if isinstance(event, TicketCalled):
            assert not event.override
            head = next_ticket(state)
            assert head is not None and head.ticket_id == event.ticket_id
        evolve(state, event)
        if isinstance(event, TicketEnqueued | TicketCalled) and recorded.stream_version % 97 == 0:
            line = waiting_ids(state)
            assert [position(state, t) for t in line] == list(range(1, len(line) + 1))
    assert [e.stream_version for e in events] == list(range(1, len(events) + 1))
