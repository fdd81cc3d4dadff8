"""A scripted run of random commands over many queues, through the HTTP API.

Every command type and every priority class appears. The script keeps a rough idea of each
queue's tickets from the answers it gets, so most commands are plausible; the rest are refused by
the rules (409s), which is part of the test too: a refusal must change nothing.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

PRIORITIES = ("emergency", "urgent", "vip", "normal")
COUNTERS = ("1", "2", "3")


@dataclass
class QueueModel:
    queue_id: str
    waiting: list[str] = field(default_factory=list)
    called: list[str] = field(default_factory=list)
    serving: list[str] = field(default_factory=list)
    no_show: list[str] = field(default_factory=list)
    # counter -> the ticket called or being served there (one at a time, by the queue's policy)
    at_counter: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    retried: int = 0  # commands sent again after a lost connection (same Idempotency-Key)


class RandomCommands:
    def __init__(self, http: httpx.AsyncClient, queue_ids: list[str], seed: int) -> None:
        self._http = http
        self._rng = random.Random(seed)
        self.queues = [QueueModel(q) for q in queue_ids]
        self.outcome = Outcome()

    async def run(
        self, count: int, concurrency: int = 12, on_progress: Callable[[int], Any] | None = None
    ) -> Outcome:
        done = 0
        # One lane per queue group so a queue's commands see each other's answers.
        lanes = [self.queues[i::concurrency] for i in range(concurrency)]

        async def lane(queues: list[QueueModel], share: int) -> None:
            nonlocal done
            for _ in range(share):
                await self._one(self._rng.choice(queues))
                done += 1
                if on_progress is not None and done % 250 == 0:
                    await on_progress(done)

        shares = [
            count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)
        ]
        await asyncio.gather(*(lane(q, s) for q, s in zip(lanes, shares, strict=True) if q))
        return self.outcome

    async def _one(self, queue: QueueModel) -> None:
        rng = self._rng
        roll = rng.random()
        if roll < 0.36 or not (queue.waiting or queue.called or queue.serving):
            body = {"priority": rng.choice(PRIORITIES), "channel": rng.choice(["kiosk", "web"])}
            answer = await self._post("enqueue", f"/v1/queues/{queue.queue_id}/tickets", body)
            if answer is not None:
                queue.waiting.append(answer["ticket"]["ticket_id"])
        elif roll < 0.56:
            counter = self._counter(queue)
            answer = await self._post(
                "call-next", f"/v1/queues/{queue.queue_id}/call-next", {"counter": counter}
            )
            if answer is not None:
                _called(queue, counter, answer)
        elif roll < 0.64 and queue.called:
            ticket = rng.choice(queue.called)
            if await self._post("start", f"/v1/tickets/{ticket}/start") is not None:
                _move(queue.called, queue.serving, ticket)
        elif roll < 0.74 and (queue.serving or queue.called):
            ticket = rng.choice(queue.serving or queue.called)
            if await self._post("complete", f"/v1/tickets/{ticket}/complete") is not None:
                _drop(queue, ticket)
        elif roll < 0.78 and queue.called:
            ticket = rng.choice(queue.called)
            if await self._post("no-show", f"/v1/tickets/{ticket}/no-show") is not None:
                _no_show(queue, ticket)
        elif roll < 0.80 and queue.no_show:
            ticket = rng.choice(queue.no_show)
            if await self._post("return", f"/v1/tickets/{ticket}/return") is not None:
                _move(queue.no_show, queue.waiting, ticket)
        elif roll < 0.82 and queue.called:
            await self._post("recall", f"/v1/tickets/{rng.choice(queue.called)}/recall")
        elif roll < 0.85 and queue.waiting:
            ticket = rng.choice(queue.waiting)
            if (
                await self._post(
                    "cancel", f"/v1/tickets/{ticket}/cancel", {"reason": "changed my mind"}
                )
                is not None
            ):
                _drop(queue, ticket)
        elif roll < 0.88 and queue.waiting:
            await self._post(
                "priority",
                f"/v1/tickets/{rng.choice(queue.waiting)}/priority",
                {"priority": rng.choice(PRIORITIES), "reason": "triage"},
            )
        elif roll < 0.90 and queue.waiting:
            ticket, counter = rng.choice(queue.waiting), self._counter(queue)
            answer = await self._post(
                "call", f"/v1/tickets/{ticket}/call", {"counter": counter, "reason": "wheelchair"}
            )
            if answer is not None:
                _called(queue, counter, answer)
        elif roll < 0.93 and queue.waiting:
            ticket = rng.choice(queue.waiting)
            target = rng.choice([q for q in self.queues if q is not queue])
            if await self._post(
                "transfer",
                f"/v1/tickets/{ticket}/transfer",
                {"to_queue_id": target.queue_id, "reason": "other desk"},
            ):
                _drop(queue, ticket)
                target.waiting.append(ticket)
        elif roll < 0.95:
            await self._post("pause", f"/v1/queues/{queue.queue_id}/pause", {"reason": "break"})
            await self._post("resume", f"/v1/queues/{queue.queue_id}/resume")
        elif roll < 0.97:
            await self._post("close", f"/v1/queues/{queue.queue_id}/close", {"reason": "late"})
            await self._post("open", f"/v1/queues/{queue.queue_id}/open")
        else:
            await self._patch(queue)

    def _counter(self, queue: QueueModel) -> str:
        """Mostly a counter the script believes free; sometimes a busy one (refused, or its
        visit closed first: whichever the queue's policy says)."""
        free = [c for c in COUNTERS if c not in queue.at_counter]
        return self._rng.choice(free if free and self._rng.random() < 0.9 else COUNTERS)

    async def _patch(self, queue: QueueModel) -> None:
        body = {
            "capacity": self._rng.choice([None, 500, 1000]),
            "aging_after_seconds": self._rng.choice([None, 900]),
            "busy_counter_policy": self._rng.choice(["refuse", "close_previous"]),
        }
        self.outcome.sent["patch"] += 1
        response = await self._send("PATCH", f"/v1/queues/{queue.queue_id}", body)
        self.outcome.statuses[response.status_code] += 1

    async def _post(
        self, kind: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        self.outcome.sent[kind] += 1
        response = await self._send("POST", path, body)
        self.outcome.statuses[response.status_code] += 1
        if response.status_code >= 500:
            raise AssertionError(f"{path}: {response.status_code} {response.text}")
        return dict(response.json()) if response.status_code in (200, 201) else None

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        """As a careful integrator sends a command: with an Idempotency-Key, so that one whose
        connection was lost before the answer (a reset under load) is sent again without being
        applied twice."""
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        for attempt in range(3):
            try:
                return await self._http.request(method, path, json=body, headers=headers)
            except httpx.TransportError:
                if attempt == 2:
                    raise
                self.outcome.retried += 1
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")


def _move(source: list[str], target: list[str], ticket: str) -> None:
    if ticket in source:
        source.remove(ticket)
    target.append(ticket)


def _drop(queue: QueueModel, ticket: str) -> None:
    for bucket in (queue.waiting, queue.called, queue.serving, queue.no_show):
        if ticket in bucket:
            bucket.remove(ticket)
    _leave_counter(queue, ticket)


def _no_show(queue: QueueModel, ticket: str) -> None:
    _drop(queue, ticket)
    queue.no_show.append(ticket)


def _leave_counter(queue: QueueModel, ticket: str) -> None:
    for counter, there in list(queue.at_counter.items()):
        if there == ticket:
            del queue.at_counter[counter]


def _called(queue: QueueModel, counter: str, answer: dict[str, Any]) -> None:
    """A call answered: the visit it closed first (close_previous), then the ticket called."""
    previous = queue.at_counter.get(counter)
    if previous is not None and "TicketNoShow" in answer["event_types"]:
        _no_show(queue, previous)
    elif previous is not None and "TicketServed" in answer["event_types"]:
        _drop(queue, previous)
    ticket = answer["ticket"]["ticket_id"]
    _move(queue.waiting, queue.called, ticket)
    queue.at_counter[counter] = ticket
