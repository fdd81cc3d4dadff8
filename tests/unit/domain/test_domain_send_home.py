"""Closing a queue and sending those still waiting home (`CloseQueue.cancel_waiting`): the end of a
day that cannot serve everyone. Each one waiting is cancelled by the close, in line order, before the
close (so nobody still in line is told "you will still be served"); those called stay at their
counters; on a queue closed already it cancels those still waiting."""

from __future__ import annotations

import pytest
from domain_gwt import T0, at, called, created, enqueued, given

from domain.commands import CloseQueue
from domain.events import QueueClosed, QueueEvent, TicketCancelled
from domain.evolve import fold

LINE: tuple[QueueEvent, ...] = (
    enqueued("a", 1, when=at(1)),
    enqueued("b", 2, when=at(2)),
    enqueued("urgent", 3, priority="urgent", when=at(3)),
    enqueued("c", 4, when=at(4)),
    called("a"),  # at counter 1: stays there
)


def sent_home(ticket_id: str, reason: str | None = "day over") -> TicketCancelled:
    return TicketCancelled(ticket_id=ticket_id, by="closing", reason=reason, at=T0)


@pytest.mark.parametrize("status", ["open", "paused"])
def test_those_waiting_are_cancelled_in_line_order_then_the_queue_closes(status: str) -> None:
    outcome = given(created(status=status), *LINE).when(
        CloseQueue(reason="day over", cancel_waiting=True)
    )
    events = outcome.then(
        sent_home("urgent"),  # the head of the line first
        sent_home("b"),
        sent_home("c"),
        QueueClosed(reason="day over", at=T0),
    )
    state = fold(events, outcome.state)
    assert state.status == "closed" and state.waiting_count == 0
    assert state.tickets["a"].status == "called"  # at its counter still
    assert {state.tickets[t].status for t in ("b", "c", "urgent")} == {"cancelled"}
    # Each one's page says the queue closed, not "if this is a mistake, take a new ticket".
    assert {state.tickets[t].cancelled_by for t in ("b", "c", "urgent")} == {"closing"}


def test_without_it_those_waiting_stay_in_line() -> None:
    outcome = given(created(), *LINE).when(CloseQueue(reason="day over"))
    outcome.then(QueueClosed(reason="day over", at=T0))
    assert outcome.state.waiting_count == 3


def test_an_empty_line_just_closes() -> None:
    given(created(), enqueued("a", 1), called("a")).when(CloseQueue(cancel_waiting=True)).then(
        QueueClosed(reason=None, at=T0)
    )


def test_a_closed_queue_sends_those_still_waiting_home_and_stays_closed() -> None:
    given(created(), *LINE, QueueClosed(reason=None, at=at(5))).when(
        CloseQueue(cancel_waiting=True)
    ).then(sent_home("urgent", None), sent_home("b", None), sent_home("c", None))


def test_a_closed_queue_with_nobody_waiting_is_an_invalid_transition() -> None:
    closed = given(created(status="closed"), enqueued("a", 1), called("a"))
    closed.when(CloseQueue(cancel_waiting=True)).rejects("invalid-transition")
