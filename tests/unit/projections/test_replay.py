"""Replay of what a ticket's follower missed: random commands through the real domain rules and
the projector's own changes; every replay either gives exactly the states the ticket passed
through (every position, in order) or declines (then the stream sends the current view)."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from domain.commands import CreateQueue
from domain.decide import decide
from domain.errors import Rejected
from domain.recorded import RecordedEvent
from domain.state import QueueState, position
from projections.layout import Keys
from projections.model import QueueModel
from projections.projector import _step
from projections.replay import replayed, rewind
from projections.writer import recent_commands
from tests.unit.domain.test_domain_properties import CONFIGS, START, Queue, random_command

Spot = tuple[str, int | None, str | None]
KEYS = Keys("test")
STEPS = 1500


def _spots(state: QueueState) -> dict[str, Spot]:
    return {
        ticket_id: (ticket.status, position(state, ticket_id), ticket.counter)
        for ticket_id, ticket in state.tickets.items()
    }


def _history() -> tuple[list[dict[str, Any]], list[dict[str, Spot]]]:
    """The compact changes as Redis keeps them, and every ticket's spot after each version."""
    rng = random.Random(7)
    now = START
    model = QueueModel.new("qa")
    queue = Queue("qa", model.state)
    changes: list[dict[str, Any]] = []
    spots: list[dict[str, Spot]] = [{}]
    for step in range(STEPS):
        now += timedelta(seconds=rng.randint(0, 30))
        command = (
            CreateQueue(queue_id="qa", tenant_id="t", config=CONFIGS["qa"])
            if step == 0
            else random_command(rng, queue, step, now)
        )
        try:
            events = decide(model.state, command, now)
        except Rejected:
            continue
        for event in events:
            record = RecordedEvent(
                event_id=f"e{model.state.version + 1}",
                tenant_id="t",
                queue_id="qa",
                stream_version=model.state.version + 1,
                event=event,
                occurred_at=now,
                command_id="c",
                correlation_id="c",
                actor="test",
            )
            _commands, change, _whole = _step(KEYS, model, record, 3600)
            # Through the writer's own compact form, as a reconnecting follower reads it.
            [(_, _, entry), *_] = recent_commands(KEYS, model.state, [asdict(change)])
            changes.extend(json.loads(entry)["changes"])
            spots.append(_spots(model.state))
    return changes, spots


def _view(ticket_id: str, spot: Spot, version: int) -> dict[str, Any]:
    status, place, counter = spot
    return {
        "ticket_id": ticket_id,
        "queue_id": "qa",
        "status": status,
        "position": place,
        "people_ahead": None if place is None else place - 1,
        "counter": counter,
        "version": version,
        "estimate": None,
    }


def test_every_replay_is_exactly_what_the_ticket_went_through() -> None:
    changes, spots = _history()
    last = len(spots) - 1
    assert [c["version"] for c in changes] == list(range(1, last + 1))
    rng = random.Random(11)
    exact = declined = 0
    for _ in range(3000):
        since = rng.randint(1, last - 1)
        upto = rng.randint(since + 1, min(last, since + 40))
        candidates = sorted(set(spots[since]) & set(spots[upto]))
        if not candidates:
            continue
        ticket_id = rng.choice(candidates)
        window = changes[since:upto]  # versions since+1 .. upto
        current = _view(ticket_id, spots[upto][ticket_id], upto)
        views = replayed(ticket_id, current, None, window, since, START)
        if views is None:
            declined += 1
            assert any(c.get("type") == "QueueReconfigured" for c in window), (since, upto)
            continue
        exact += 1
        expected = [
            (version, *spots[version][ticket_id])
            for version in range(since + 1, upto)
            if spots[version][ticket_id] != spots[version - 1][ticket_id]
        ] + [(upto, *spots[upto][ticket_id])]
        got = [(v["version"], v["status"], v["position"], v["counter"]) for v in views]
        assert got == expected, (ticket_id, since, upto)
        assert rewind(ticket_id, spots[upto][ticket_id], window) == spots[since][ticket_id]
    # Declined only across a reconfiguration (the random commands reconfigure often).
    assert exact > 800 and declined > 0, (exact, declined)


def test_a_ticket_that_joined_after_the_client_version_is_not_replayed() -> None:
    """A Last-Event-ID from before the ticket existed (another queue's, say): no made-up past."""
    changes, spots = _history()
    joined = next(
        c
        for c in changes
        if c.get("type") == "TicketEnqueued"
        and c["version"] > 5
        and c["ticket_id"] in spots[c["version"] + 3]
    )
    ticket_id, at = joined["ticket_id"], joined["version"]
    current = _view(ticket_id, spots[at + 3][ticket_id], at + 3)
    assert replayed(ticket_id, current, None, changes[at - 3 : at + 3], at - 3, START) is None
