"""Snapshots round-trip exactly; finished tickets are retained within a bound."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from domain_gwt import CONFIG, T0, at, called, created, enqueued, given

from domain.commands import CallNext, EnqueueTicket, QueueCommand, ReturnTicket
from domain.decide import decide
from domain.errors import Rejected
from domain.events import (
    PersonalData,
    QueueEvent,
    ServiceStarted,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketPromoted,
    TicketRecalled,
)
from domain.evolve import fold, set_config
from domain.snapshot import SNAPSHOT_SCHEMA, from_snapshot, to_snapshot
from domain.state import (
    FINISHED_RETENTION,
    QueueState,
    initial_state,
    next_ticket,
    now_serving,
    position,
    waiting_ids,
)

BERLIN = replace(
    CONFIG, timezone="Europe/Berlin", aging_after_seconds=60, metadata={"site": "Mitte"}
)


def busy_history() -> list[QueueEvent]:
    return [
        created(BERLIN),
        TicketEnqueued(
            ticket_id="t1",
            number="A-001",
            daily_number=1,
            seq=1,
            priority="vip",
            service_type="pay",
            channel="web",
            personal=PersonalData(key_id="k1", sealed="c2VhbGVk"),
            metadata={"k": "v"},
            language="de",
            at=at(0),
        ),
        enqueued("t2", 2, when=at(1)),
        enqueued("t3", 3, service_type="ask", when=at(2)),
        enqueued("t4", 4, priority="urgent", when=at(3)),
        enqueued("t5", 5, when=at(4)),
        called("t4", "2", at(10)),
        ServiceStarted(ticket_id="t4", counter="2", at=at(20)),
        called("t1", "1", at(30)),
        TicketRecalled(ticket_id="t1", counter="1", recall_count=1, at=at(40)),
        called("t2", "1", at(50)),
        TicketNoShow(ticket_id="t2", counter="1", at=at(60)),
        TicketCancelled(ticket_id="t5", by="customer", reason=None, at=at(70)),
        TicketPromoted(ticket_id="t3", from_priority="normal", to_priority="vip", at=at(80)),
    ]


def test_snapshot_round_trip_is_exact_and_json() -> None:
    state = fold(busy_history(), initial_state("q-1"))
    data = to_snapshot(state)
    assert data["schema"] == SNAPSHOT_SCHEMA
    restored = from_snapshot(json.loads(json.dumps(data)))
    assert restored == state
    assert to_snapshot(restored) == data
    assert waiting_ids(restored) == waiting_ids(state) == ["t3"]
    assert now_serving(restored) == now_serving(state) == {"1": "t1", "2": "t4"}
    assert (restored.daily_number, restored.daily_day) == (5, state.daily_day)
    assert list(restored.tickets) == list(state.tickets)
    assert list(restored.finished) == ["t2", "t5"]
    assert restored.tickets["t5"].cancelled_by == "customer"  # its page says "you left"


def test_restored_state_decides_exactly_like_the_original() -> None:
    state = fold(busy_history(), initial_state("q-1"))
    restored = from_snapshot(to_snapshot(state))
    cases: list[tuple[QueueCommand, datetime]] = [
        (EnqueueTicket(ticket_id="t9"), at(100)),
        (EnqueueTicket(ticket_id="t9"), datetime(2024, 3, 5, 0, 30, tzinfo=UTC)),
        (CallNext(counter="1"), at(100)),  # busy (t1 is called there): refused
        (ReturnTicket(ticket_id="t2"), at(100)),
    ]
    for command, now in cases:
        assert _decision(restored, command, now) == _decision(state, command, now)
    closing = replace(state.config, busy_counter_policy="close_previous")
    set_config(state, closing)
    set_config(restored, closing)
    for counter in ("1", "2"):  # t1 called at 1 (a no-show), t4 served at 2
        command = CallNext(counter=counter)
        assert decide(restored, command, at(100)) == decide(state, command, at(100))
    more: list[QueueEvent] = [enqueued("t9", 6, daily=6, when=at(100)), called("t3", "3", at(101))]
    assert fold(more, restored) == fold(more, state)


def _decision(state: QueueState, command: QueueCommand, now: datetime) -> object:
    """The events, or the refusal (code and detail)."""
    try:
        return decide(state, command, now)
    except Rejected as refused:
        return (refused.code, refused.detail, refused.facts)


def test_the_busy_counter_policy_survives_a_snapshot() -> None:
    for policy in ("refuse", "close_previous"):
        config = replace(BERLIN, busy_counter_policy=policy)
        state = fold([created(config)], initial_state("q-1"))
        assert from_snapshot(to_snapshot(state)).config.busy_counter_policy == policy


def test_snapshot_of_a_fresh_state_round_trips() -> None:
    state = initial_state("q-1")
    assert from_snapshot(to_snapshot(state)) == state


def test_unknown_snapshot_schema_is_refused() -> None:
    data = to_snapshot(initial_state("q-1"))
    data["schema"] = SNAPSHOT_SCHEMA + 1
    with pytest.raises(ValueError, match="schema"):
        from_snapshot(data)


# --- retention -----------------------------------------------------------------------------------


def enqueue_and_cancel(first: int, count: int, when: datetime) -> list[QueueEvent]:
    events: list[QueueEvent] = []
    for i in range(first, first + count):
        events.append(enqueued(f"c{i}", i, when=when))
        events.append(TicketCancelled(ticket_id=f"c{i}", by="staff", reason=None, at=when))
    return events


def test_finished_tickets_are_bounded_oldest_first() -> None:
    extra = 7
    state = fold([created(), *enqueue_and_cancel(1, FINISHED_RETENTION + extra, T0)])
    assert len(state.finished) == len(state.tickets) == FINISHED_RETENTION
    assert "c1" not in state.tickets and f"c{extra}" not in state.tickets
    assert next(iter(state.finished)) == f"c{extra + 1}"
    assert state.daily_number == FINISHED_RETENTION + extra  # the counter is not forgotten


def test_a_no_show_in_its_grace_period_outlives_eviction() -> None:
    history: list[QueueEvent] = [
        created(),
        enqueued("ns", 1),
        called("ns"),
        TicketNoShow(ticket_id="ns", counter="1", at=T0),
    ]
    within = at(CONFIG.no_show_grace_seconds - 1)
    state = fold([*history, *enqueue_and_cancel(2, FINISHED_RETENTION, within)])
    assert "ns" in state.tickets and len(state.finished) == FINISHED_RETENTION
    assert "c2" not in state.tickets
    assert decide(state, ReturnTicket(ticket_id="ns"), within)
    # After its grace, the next finish evicts it like any other.
    later = at(CONFIG.no_show_grace_seconds + 1)
    state = fold(enqueue_and_cancel(10**6, 1, later), state)
    assert "ns" not in state.tickets and len(state.finished) == FINISHED_RETENTION


def test_eviction_is_deterministic_across_folds_and_snapshots() -> None:
    events = [created(), *enqueue_and_cancel(1, FINISHED_RETENTION + 3, T0)]
    one = fold(events)
    two = fold(events[4000:], from_snapshot(to_snapshot(fold(events[:4000]))))
    assert one == two and to_snapshot(one) == to_snapshot(two)
    assert list(one.finished) == list(two.finished)


def test_position_and_next_ticket_after_a_long_fold() -> None:
    events: list[QueueEvent] = [created()]
    events += [enqueued(f"t{i}", i, when=T0 + timedelta(seconds=i)) for i in range(1, 2001)]
    events += [called(f"t{i}", when=at(3000)) for i in range(1, 1001)]
    state = fold(events)
    assert position(state, "t1001") == 1 and position(state, "t2000") == 1000
    ticket = next_ticket(state)
    assert ticket is not None and ticket.ticket_id == "t1001"
    assert state.version == len(events)


def test_given_helper_state_matches_fold() -> None:
    assert given(*busy_history()).state() == fold(busy_history())
