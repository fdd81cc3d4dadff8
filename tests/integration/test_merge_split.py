"""Merge and split through the API, read back from the read models a real worker folds: two
lines of 200 merged keep every number and interleave by class and time in line; a split by
service type leaves two lines whose union is the old one; the ticket's own token still follows
it to its new queue."""

from __future__ import annotations

import random
from typing import Any

from core.settings import Settings
from tests.integration.conftest import ApiClient
from tests.integration.servers import read_side

PEOPLE = 200
CLASSES = ("urgent", "vip", "normal")
TYPES = ["general", "loans"]
STARTUP_WAIT_S = 30  # a stream worker that just started takes seconds to join its group


async def _line(api: ApiClient, queue_id: str, version: int) -> list[dict[str, Any]]:
    """The whole waiting line once the read model reached `version`, front to back."""
    tickets: list[dict[str, Any]] = []
    while True:
        page = await api.http.get(
            f"/v1/queues/{queue_id}/waiting",
            headers=api.auth("admin"),
            params={
                "offset": len(tickets),
                "limit": 500,
                "min_version": version,
                "wait": STARTUP_WAIT_S,
            },
        )
        assert page.status_code == 200, page.text
        tickets += page.json()["tickets"]
        if len(tickets) >= page.json()["total"]:
            return tickets


async def _fill(
    api: ApiClient, queue_id: str, rng: random.Random
) -> tuple[list[dict[str, Any]], int]:
    """PEOPLE joined, and the queue's version after the last (the queue's creation is a version
    too: waiting for PEOPLE could read a line one short)."""
    answers = [
        await api.enqueue(queue_id, priority=rng.choice(CLASSES), service_type=rng.choice(TYPES))
        for _ in range(PEOPLE)
    ]
    return [a["ticket"] for a in answers], answers[-1]["stream_version"]


def _ids(tickets: list[dict[str, Any]]) -> list[str]:
    return [t["ticket_id"] for t in tickets]


async def test_merge_then_split_keep_numbers_order_and_every_ticket(
    settings: Settings, topics: list[str], api: ApiClient
) -> None:
    rng = random.Random(16)
    first = await api.create_queue(prefix="A", service_types=TYPES)
    second = await api.create_queue(prefix="B", service_types=TYPES)
    third = await api.create_queue(prefix="L", service_types=["loans"])
    with read_side(settings):
        (a_joined, a_version), (b_joined, b_version) = (
            await _fill(api, first, rng),
            await _fill(api, second, rng),
        )
        a_line = _ids(await _line(api, first, a_version))
        b_line = _ids(await _line(api, second, b_version))
        assert len(a_line) == len(b_line) == PEOPLE
        numbers = {t["ticket_id"]: t["number"] for t in a_joined + b_joined}

        merged = await api.post(
            f"/v1/queues/{first}/merge",
            "admin",
            json={"to_queue_id": second, "reason": "desk A closes early"},
        )
        assert merged.status_code == 200, merged.text
        answer = merged.json()
        assert answer["moved"] == PEOPLE and answer["target"]["queue_id"] == second
        assert answer["event_types"][-1] == "QueueClosed"

        line = await _line(api, second, answer["target"]["stream_version"])
        ids = _ids(line)
        assert sorted(ids) == sorted(a_line + b_line), "every ticket once"
        assert [t for t in ids if t in set(a_line)] == a_line, "A's order kept"
        assert [t for t in ids if t in set(b_line)] == b_line, "B's order kept"
        assert {t["ticket_id"]: t["number"] for t in line} == numbers, "numbers kept"
        ranks = [CLASSES.index(t["priority"]) for t in line]
        assert ranks == sorted(ranks), "by class first"
        assert [t["position"] for t in line] == list(range(1, 2 * PEOPLE + 1))
        closed = await api.http.get(
            f"/v1/queues/{first}",
            headers=api.auth("admin"),
            params={"min_version": answer["stream_version"]},
        )
        assert closed.json()["status"] == "closed" and closed.json()["waiting"] == 0

        # The customer's page still follows their ticket, by its token, in its new queue.
        mine = a_joined[0]
        followed = await api.http.get(
            f"/v1/tickets/{mine['ticket_id']}", headers={"X-Ticket-Token": mine["token"]}
        )
        assert followed.status_code == 200, followed.text
        assert (followed.json()["queue_id"], followed.json()["number"]) == (
            second,
            mine["number"],
        )

        split = await api.post(
            f"/v1/queues/{second}/split",
            "admin",
            json={"to_queue_id": third, "service_types": ["loans"]},
        )
        assert split.status_code == 200, split.text
        loans = [t["ticket_id"] for t in line if t["service_type"] == "loans"]
        assert split.json()["moved"] == len(loans) > 0
        kept = _ids(await _line(api, second, split.json()["stream_version"]))
        taken = _ids(await _line(api, third, split.json()["target"]["stream_version"]))
        assert taken == loans and kept == [t for t in ids if t not in set(loans)]

        again = await api.post(
            f"/v1/queues/{second}/split",
            "admin",
            json={"to_queue_id": third, "service_types": ["loans"]},
        )
        assert again.status_code == 409 and again.json()["type"].endswith("queue-empty")
