"""Ordering policy, aging, opening hours, daily numbers and capacity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from domain_gwt import CONFIG, T0, at, called, created, enqueued, given

from domain.commands import EnqueueTicket, PromoteAgedTickets
from domain.config import OpeningHours, QueueConfig
from domain.events import QueueReconfigured, TicketEnqueued, TicketPromoted
from domain.hours import is_open_at, local_day
from domain.policy import aging_target, order_key
from domain.state import line_key, next_ticket, position, waiting_ids


def test_higher_class_first_then_fifo_within_a_class() -> None:
    state = given(
        created(),
        enqueued("n1", 1, when=at(1)),
        enqueued("v1", 2, priority="vip", when=at(2)),
        enqueued("n2", 3, when=at(3)),
        enqueued("e1", 4, priority="emergency", when=at(4)),
        enqueued("v2", 5, priority="vip", when=at(5)),
        enqueued("u1", 6, priority="urgent", when=at(6)),
    ).state()
    assert waiting_ids(state) == ["e1", "u1", "v1", "v2", "n1", "n2"]
    assert [position(state, t) for t in waiting_ids(state)] == [1, 2, 3, 4, 5, 6]
    ticket = next_ticket(state)
    assert ticket is not None and ticket.ticket_id == "e1"


def test_same_time_same_class_is_ordered_by_seq() -> None:
    state = given(created(), enqueued("b", 1), enqueued("a", 2), enqueued("c", 3)).state()
    assert waiting_ids(state) == ["b", "a", "c"]


def test_line_key_agrees_with_order_key() -> None:
    state = given(created(), enqueued("t1", 7, priority="vip", when=at(3))).state()
    ticket = state.tickets["t1"]
    assert line_key(state, ticket)[:3] == order_key(state.config, ticket) == (2, at(3), 7)


def test_position_is_none_unless_waiting() -> None:
    state = given(created(), enqueued("t1", 1), enqueued("t2", 2), called("t1")).state()
    assert position(state, "t1") is None
    assert position(state, "t2") == 1
    assert position(state, "nope") is None


def test_reconfigured_class_order_reorders_the_line() -> None:
    flipped = replace(CONFIG, priority_classes=("normal", "vip", "urgent", "emergency"))
    state = given(
        created(),
        enqueued("n1", 1),
        enqueued("v1", 2, priority="vip"),
        QueueReconfigured(config=flipped, at=T0),
    ).state()
    assert waiting_ids(state) == ["n1", "v1"]


# --- aging -----------------------------------------------------------------------------------

AGING = replace(CONFIG, aging_after_seconds=600)


def test_aging_target_is_one_class_up_and_stops_below_the_top() -> None:
    assert aging_target(CONFIG, "normal") == "vip"
    assert aging_target(CONFIG, "vip") == "urgent"
    assert aging_target(CONFIG, "urgent") is None  # second-highest is the default ceiling
    assert aging_target(CONFIG, "emergency") is None
    assert aging_target(CONFIG, "unknown") is None
    capped = replace(CONFIG, aging_max_priority="vip")
    assert aging_target(capped, "vip") is None
    assert aging_target(capped, "normal") == "vip"
    top = replace(CONFIG, aging_max_priority="emergency")
    assert aging_target(top, "urgent") == "emergency"
    single = QueueConfig(name="q", priority_classes=("only",), default_priority="only")
    assert aging_target(single, "only") is None


def test_promote_moves_every_ticket_past_the_bound_one_class_up() -> None:
    history = (
        created(AGING),
        enqueued("n1", 1, when=at(0)),
        enqueued("u1", 2, priority="urgent", when=at(0)),
        enqueued("v1", 3, priority="vip", when=at(10)),
        enqueued("n2", 4, when=at(300)),
    )
    given(*history).when(PromoteAgedTickets(), at(610)).then(
        TicketPromoted(ticket_id="v1", from_priority="vip", to_priority="urgent", at=at(610)),
        TicketPromoted(ticket_id="n1", from_priority="normal", to_priority="vip", at=at(610)),
    )


def test_promote_without_aging_configured_or_nobody_old_enough_is_empty() -> None:
    given(created(), enqueued("n1", 1)).when(PromoteAgedTickets(), at(10**6)).then()
    given(created(AGING), enqueued("n1", 1)).when(PromoteAgedTickets(), at(599)).then()


def test_promoted_ticket_keeps_its_arrival_and_ages_again_from_promotion() -> None:
    history = (
        created(AGING),
        enqueued("v1", 1, priority="vip", when=at(500)),
        enqueued("n1", 2, when=at(0)),
        TicketPromoted(ticket_id="n1", from_priority="normal", to_priority="vip", at=at(600)),
    )
    state = given(*history).state()
    assert waiting_ids(state) == ["n1", "v1"]  # arrived first, so first within the class
    assert state.tickets["n1"].class_since == at(600)
    given(*history).when(PromoteAgedTickets(), at(1100)).then(
        TicketPromoted(ticket_id="v1", from_priority="vip", to_priority="urgent", at=at(1100))
    )
    given(*history).when(PromoteAgedTickets(), at(1200)).then(
        TicketPromoted(ticket_id="n1", from_priority="vip", to_priority="urgent", at=at(1200)),
        TicketPromoted(ticket_id="v1", from_priority="vip", to_priority="urgent", at=at(1200)),
    )


def test_promote_skips_tickets_that_are_not_waiting() -> None:
    given(created(AGING), enqueued("n1", 1), called("n1")).when(
        PromoteAgedTickets(), at(10_000)
    ).then()


# --- opening hours -----------------------------------------------------------------------------

BERLIN_HOURS = replace(
    CONFIG,
    timezone="Europe/Berlin",
    opening_hours=(
        OpeningHours(weekday=0, opens="08:00", closes="12:00"),
        OpeningHours(weekday=0, opens="13:00", closes="16:30"),
        OpeningHours(weekday=5, opens="10:00", closes="24:00"),
    ),
)


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    # March 2024: Berlin is UTC+1 (before the switch on the 31st).
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=1)


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        (berlin(4, 7, 59), False),
        (berlin(4, 8, 0), True),
        (berlin(4, 11, 59), True),
        (berlin(4, 12, 0), False),
        (berlin(4, 13, 0), True),
        (berlin(4, 16, 30), False),
        (berlin(5, 9, 0), False),  # Tuesday: no hours
        (berlin(9, 23, 59), True),  # Saturday until midnight
        (berlin(10, 0, 0), False),  # Sunday
    ],
)
def test_is_open_at_reads_the_queue_time_zone(when: datetime, open_: bool) -> None:
    assert is_open_at(BERLIN_HOURS, when) is open_


def test_no_opening_hours_means_always_open() -> None:
    assert is_open_at(CONFIG, T0)
    assert is_open_at(CONFIG, datetime(2024, 12, 25, 3, tzinfo=UTC))


def test_enqueue_outside_hours_is_refused_unless_allowed() -> None:
    closed_time = berlin(5, 9)
    given(created(BERLIN_HOURS)).when(EnqueueTicket(ticket_id="t1"), closed_time).rejects(
        "outside-hours"
    )
    given(created(BERLIN_HOURS)).when(
        EnqueueTicket(ticket_id="t1", allow_outside_hours=True), closed_time
    ).then(enqueued("t1", 1, when=closed_time))
    lenient = replace(BERLIN_HOURS, allow_outside_hours=True)
    given(created(lenient)).when(EnqueueTicket(ticket_id="t1"), closed_time).then(
        enqueued("t1", 1, when=closed_time)
    )
    given(created(BERLIN_HOURS)).when(EnqueueTicket(ticket_id="t1"), berlin(4, 9)).then(
        enqueued("t1", 1, when=berlin(4, 9))
    )


# --- daily numbers -----------------------------------------------------------------------------

TOKYO = replace(CONFIG, timezone="Asia/Tokyo", prefix="TK")


def test_daily_numbers_restart_at_local_midnight() -> None:
    # 14:59 UTC is 23:59 in Tokyo; 15:00 UTC is midnight of the next Tokyo day.
    before = datetime(2024, 3, 4, 14, 59, tzinfo=UTC)
    after = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)
    assert local_day(TOKYO, before) != local_day(TOKYO, after)
    history = (
        created(TOKYO),
        enqueued("t1", 1, prefix="TK", when=before - timedelta(hours=1)),
        enqueued("t2", 2, prefix="TK", when=before),
    )
    given(*history).when(EnqueueTicket(ticket_id="t3"), before).then(
        enqueued("t3", 3, prefix="TK", when=before)
    )
    given(*history).when(EnqueueTicket(ticket_id="t3"), after).then(
        enqueued("t3", 3, daily=1, prefix="TK", when=after)
    )
    state = given(*history, enqueued("t3", 3, daily=1, prefix="TK", when=after)).state()
    assert (state.daily_number, state.daily_day) == (1, local_day(TOKYO, after))


def test_daily_numbers_do_not_restart_at_utc_midnight_in_another_zone() -> None:
    # 23:30 UTC and 00:30 UTC are the same morning in Tokyo.
    late = datetime(2024, 3, 4, 23, 30, tzinfo=UTC)
    early = datetime(2024, 3, 5, 0, 30, tzinfo=UTC)
    given(created(TOKYO), enqueued("t1", 1, prefix="TK", when=late)).when(
        EnqueueTicket(ticket_id="t2"), early
    ).then(enqueued("t2", 2, prefix="TK", when=early))


def test_numbers_past_999_just_grow() -> None:
    events = [created()] + [enqueued(f"t{i}", i) for i in range(1, 1000)]
    outcome = given(*events).when(EnqueueTicket(ticket_id="t1000"))
    assert outcome.events is not None
    event = outcome.events[0]
    assert isinstance(event, TicketEnqueued)
    assert (event.number, event.daily_number) == ("A-1000", 1000)
