"""Counters' breaks: set now or ahead, ended early (by staff, or by a call from that counter),
refused when they make no sense; kept in snapshots; and the projection counts on the return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.commands import CallNext, EndCounterBreak, EnqueueTicket, QueueCommand, SetCounterBreak
from domain.config import QueueConfig
from domain.decide import decide
from domain.errors import Rejected
from domain.estimation.rules import RuleEstimator
from domain.events import CounterBreakSet, QueueCreated, TicketServed
from domain.evolve import evolve
from domain.snapshot import from_snapshot, to_snapshot
from domain.state import QueueState, initial_state

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def queue(estimator: RuleEstimator | None = None) -> QueueState:
    state = initial_state("q")
    config = QueueConfig(name="Desk", counters=("1", "2"))
    created = QueueCreated(queue_id="q", tenant_id="t", config=config, status="open", at=T0)
    evolve(state, created)
    if estimator is not None:
        estimator.observe(state, created)
    return state


def run(state: QueueState, command: QueueCommand, at: datetime) -> list[object]:
    events = decide(state, command, at)
    for event in events:
        evolve(state, event)
    return list(events)


def test_a_break_now_is_kept_until_it_ends_and_a_past_start_means_now() -> None:
    state = queue()
    back = T0 + timedelta(minutes=30)
    [event] = run(
        state, SetCounterBreak(counter="2", ends_at=back, starts_at=T0 - timedelta(1)), T0
    )
    assert event == CounterBreakSet(counter="2", starts_at=T0, ends_at=back, at=T0)
    assert state.breaks == {"2": (T0, back)}
    # Another break of the counter replaces it; one of another counter stands beside it.
    later = T0 + timedelta(hours=2)
    run(
        state, SetCounterBreak(counter="2", starts_at=later, ends_at=later + timedelta(hours=1)), T0
    )
    run(state, SetCounterBreak(counter="1", ends_at=back), T0)
    assert state.breaks["2"][0] == later and state.breaks["1"] == (T0, back)
    # Once over, a break is forgotten at the next break event.
    run(state, SetCounterBreak(counter="2", ends_at=later), back + timedelta(minutes=1))
    assert "1" not in state.breaks


def test_a_break_planned_in_minutes_starts_by_the_services_clock() -> None:
    """A console whose clock is not the service's says "in 30 minutes, for 15": the break is
    planned from the service's now; 0 minutes is now."""
    state = queue()
    [event] = run(state, SetCounterBreak(counter="2", starts_in=30, minutes=15), T0)
    starts = T0 + timedelta(minutes=30)
    assert event == CounterBreakSet(
        counter="2", starts_at=starts, ends_at=starts + timedelta(minutes=15), at=T0
    )
    [now] = run(state, SetCounterBreak(counter="1", starts_in=0, minutes=5), T0)
    assert now.starts_at == T0 and now.ends_at == T0 + timedelta(minutes=5)


def test_back_early_ends_the_break_and_no_break_cannot_end() -> None:
    state = queue()
    run(state, SetCounterBreak(counter="1", ends_at=T0 + timedelta(minutes=30)), T0)
    [event] = run(state, EndCounterBreak(counter="1"), T0 + timedelta(minutes=10))
    assert isinstance(event, CounterBreakSet) and event.ends_at == event.starts_at
    assert state.breaks == {}
    with pytest.raises(Rejected) as refused:
        decide(state, EndCounterBreak(counter="1"), T0 + timedelta(minutes=11))
    assert refused.value.code == "invalid-transition"


def test_a_call_from_a_counter_on_a_break_ends_it_but_not_a_planned_one() -> None:
    state = queue()
    run(state, SetCounterBreak(counter="1", ends_at=T0 + timedelta(hours=1)), T0)
    planned = (T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    run(state, SetCounterBreak(counter="2", starts_at=planned[0], ends_at=planned[1]), T0)
    run(state, EnqueueTicket(ticket_id="a"), T0 + timedelta(minutes=1))
    run(state, EnqueueTicket(ticket_id="b"), T0 + timedelta(minutes=1))
    run(state, CallNext(counter="1"), T0 + timedelta(minutes=2))
    run(state, CallNext(counter="2"), T0 + timedelta(minutes=2))
    assert state.breaks == {"2": planned}


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (SetCounterBreak(counter="9", ends_at=T0 + timedelta(hours=1)), "unknown counter"),
        (SetCounterBreak(counter="1", ends_at=T0), "after the break starts"),
        (SetCounterBreak(counter="1", ends_at=T0 + timedelta(hours=13)), "at most 12 hours"),
        (
            SetCounterBreak(
                counter="1",
                starts_at=T0 + timedelta(hours=25),
                ends_at=T0 + timedelta(hours=26),
            ),
            "24 h ahead",
        ),
        (SetCounterBreak(counter="1", starts_in=25 * 60, minutes=30), "24 h ahead"),
        (
            SetCounterBreak(counter="1", starts_at=T0, starts_in=10, minutes=30),
            "at most one of the two",
        ),
        (SetCounterBreak(counter="1", starts_in=-5, minutes=30), "must not be negative"),
        (EndCounterBreak(counter="9"), "unknown counter"),
    ],
)
def test_breaks_that_make_no_sense_are_refused(command: QueueCommand, why: str) -> None:
    state = queue()
    with pytest.raises(Rejected) as refused:
        decide(state, command, T0)
    assert refused.value.code == "validation" and why in refused.value.detail
    assert state.breaks == {} and state.version == 1


def test_breaks_survive_a_snapshot() -> None:
    state = queue()
    run(state, SetCounterBreak(counter="2", ends_at=T0 + timedelta(minutes=20)), T0)
    assert from_snapshot(to_snapshot(state)).breaks == state.breaks


def _estimate_after(state: QueueState, estimator: RuleEstimator, at: datetime) -> float:
    found = estimator.estimate(state, "last", at)
    assert found is not None
    return found.p50


def test_the_estimate_counts_on_the_counter_coming_back_when_staff_said() -> None:
    """Two counters; one goes on a break. Told it is back in 10 minutes, the last of a line
    waits less than if it were back in an hour, and more than if it had not gone."""

    def waits(back_in: timedelta | None) -> float:
        estimator = RuleEstimator()
        state, at = queue(estimator), T0

        def step(command: QueueCommand) -> None:
            for event in decide(state, command, at):
                evolve(state, event)
                estimator.observe(state, event)

        # A morning of services: 4 minutes each, both counters busy.
        for n in range(12):
            step(EnqueueTicket(ticket_id=f"p{n}"))
            step(CallNext(counter=str(1 + n % 2)))
            at += timedelta(minutes=2)
            ticket = state.tickets[f"p{n}"]
            served = TicketServed(ticket_id=ticket.ticket_id, counter=ticket.counter or "", at=at)
            evolve(state, served)
            estimator.observe(state, served)
        for n in range(8):
            step(EnqueueTicket(ticket_id=f"w{n}"))
        if back_in is not None:
            step(SetCounterBreak(counter="2", ends_at=at + back_in))
        step(EnqueueTicket(ticket_id="last"))
        return _estimate_after(state, estimator, at)

    soon, late, never = waits(timedelta(minutes=10)), waits(timedelta(hours=1)), waits(None)
    assert never < soon < late
    # Due back within the quarter hour under way (it is 09:24): back in 2 minutes is counted
    # sooner than back in 5, not both at the quarter's end.
    assert never < waits(timedelta(minutes=2)) < waits(timedelta(minutes=5)) < soon
