"""Which messages are due: thresholds crossed once, events once each, nothing after leaving, the
same ids when a moment comes twice."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from notifications.rules import Moment, Rule, Watch

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
Q = "queue-a"


class Ticket:
    """Moments of one ticket, versions counting up."""

    def __init__(self) -> None:
        self.version = 0

    def at(
        self,
        position: int | None,
        status: str = "waiting",
        cause: str | None = None,
        eta_s: float | None = None,
        queue: str = Q,
    ) -> Moment:
        """The ticket after a change; the cause defaults to a call: of this ticket (status
        called), or of another one ahead of it, which moved it up (status waiting)."""
        cause = cause or "TicketCalled"
        self.version += 1
        when = T0 + timedelta(minutes=self.version)
        return Moment(
            ticket_id="t",
            queue_id=queue,
            version=self.version,
            at=when,
            cause=cause,
            status=status,
            position=position,
            call_p50_at=None if eta_s is None else when + timedelta(seconds=eta_s),
        )


def names(watch: Watch, *moments: Moment) -> list[str]:
    return [d.message_id for m in moments for d in watch.step(m)]


def test_a_jump_past_the_threshold_still_fires_once() -> None:
    ticket, watch = Ticket(), Watch("s1", (Rule("ahead", 3),))
    assert names(watch, ticket.at(6), ticket.at(5)) == []
    assert names(watch, ticket.at(2)) == ["s1:ahead-3:1"]  # 5 ahead to 1 ahead in one batch
    assert names(watch, ticket.at(1), ticket.at(1)) == []


def test_moving_back_out_and_in_again_fires_again_with_a_new_id() -> None:
    ticket, watch = Ticket(), Watch("s1", (Rule("ahead", 2),))
    assert names(watch, ticket.at(3)) == ["s1:ahead-2:1"]
    assert names(watch, ticket.at(5)) == []  # an emergency went ahead of it
    assert names(watch, ticket.at(3)) == ["s1:ahead-2:2"]


def test_a_redelivered_moment_makes_nothing_twice() -> None:
    ticket, watch = Ticket(), Watch("s1", (Rule("ahead", 3), Rule("called")))
    seen = [ticket.at(8), ticket.at(4), ticket.at(3), ticket.at(None, "called")]
    first = names(watch, *seen)
    assert first == ["s1:ahead-3:1", "s1:called:1"]
    assert names(watch, *seen) == []  # Kafka delivered the batch again


def test_events_fire_once_each_and_nothing_after_leaving() -> None:
    ticket = Ticket()
    rules = (Rule("called"), Rule("recalled"), Rule("returned"), Rule("served"), Rule("ahead", 10))
    watch = Watch("s1", rules)
    fired = names(
        watch,
        ticket.at(1),
        ticket.at(None, "called"),
        ticket.at(None, "no_show", cause="TicketNoShow"),
        ticket.at(4, cause="TicketReturned"),
        ticket.at(None, "called"),
        ticket.at(None, "called", cause="TicketRecalled"),
        ticket.at(None, "serving", cause="ServiceStarted"),
        ticket.at(None, "served", cause="TicketServed"),
        ticket.at(2, cause="TicketEnqueued"),  # nonsense after leaving: ignored
    )
    assert fired == [
        "s1:ahead-10:1",
        "s1:called:1",
        "s1:returned:1",
        "s1:ahead-10:2",
        "s1:called:2",
        "s1:recalled:1",
        "s1:served:1",
    ]


def test_the_estimated_call_within_minutes_uses_the_moments_own_time() -> None:
    ticket, watch = Ticket(), Watch("s1", (Rule("eta", 300),))
    assert names(watch, ticket.at(9, eta_s=1200), ticket.at(8)) == []  # no range: no change
    assert names(watch, ticket.at(7, eta_s=290)) == ["s1:eta-300:1"]
    assert names(watch, ticket.at(6, eta_s=200)) == []


def test_a_transfer_keeps_following_the_ticket_in_its_new_queue() -> None:
    ticket, watch = Ticket(), Watch("s1", (Rule("ahead", 1),))
    assert names(watch, ticket.at(5)) == []
    moved = Moment(
        ticket_id="t",
        queue_id="queue-b",
        version=1,
        at=T0,
        cause="TicketTransferredIn",
        status="waiting",
        position=2,
    )
    assert names(watch, moved) == ["s1:ahead-1:1"]  # version 1 of another queue still counts


@pytest.mark.parametrize("seed", range(20))
def test_whatever_the_path_each_crossing_fires_exactly_once(seed: int) -> None:
    """A random walk of positions: messages equal the walk's downward crossings of N."""
    rng = random.Random(seed)
    threshold = rng.randrange(0, 6)
    ticket, watch = Ticket(), Watch("s1", (Rule("ahead", threshold),))
    place, inside, crossings, fired = rng.randrange(1, 15), False, 0, 0
    for _ in range(60):
        place = max(1, place + rng.choice([-3, -1, -1, 0, 1, 2]))
        now_inside = place - 1 <= threshold
        crossings += now_inside and not inside
        inside = now_inside
        fired += len(watch.step(ticket.at(place)))
    assert fired == crossings


def test_a_rule_needs_its_threshold_and_only_then() -> None:
    for bad in (lambda: Rule("ahead"), lambda: Rule("called", 3), lambda: Rule("ahead", -1)):
        with pytest.raises(ValueError):
            bad()


def test_another_tickets_event_that_moved_this_one_is_not_this_ones() -> None:
    """Moments also announce tickets that only moved: someone ahead was called, or returned
    from a no-show and went ahead again; their cause is that other ticket's event."""
    ticket, watch = Ticket(), Watch("s1", (Rule("called"), Rule("returned"), Rule("recalled")))
    moved = [ticket.at(5), ticket.at(4), ticket.at(5, cause="TicketReturned"), ticket.at(4)]
    assert names(watch, *moved) == []
    assert names(watch, ticket.at(None, "called")) == ["s1:called:1"]


def _queue_event(cause: str, version: int) -> Moment:
    return Moment(
        ticket_id="t",
        queue_id=Q,
        version=version,
        at=T0,
        cause=cause,
        status="waiting",
        position=None,
        number="P-004",
    )


def test_a_pause_then_the_resumption_are_told_to_a_ticket_still_in_line() -> None:
    """The pause message says "we'll let you know when it moves again": the resumption does."""
    rules = (Rule("paused"), Rule("resumed"), Rule("closed"))
    watch = Watch("s1", rules)
    paused = watch.queue_event(_queue_event("QueuePaused", 5))
    resumed = watch.queue_event(_queue_event("QueueResumed", 6))
    assert [d.message_id for d in paused + resumed] == ["s1:paused:1", "s1:resumed:1"]
    assert resumed[0].moment.number == "P-004"
    assert watch.queue_event(_queue_event("QueueResumed", 6)) == []  # read twice: once
    # Who turned "resumed" off is not told; nor is a ticket that left.
    assert Watch("s2", (Rule("paused"),)).queue_event(_queue_event("QueueResumed", 6)) == []
    gone = Watch("s3", rules)
    gone.step(Ticket().at(None, "served", cause="TicketServed"))
    assert gone.queue_event(_queue_event("QueueResumed", 7)) == []


def _moved_in(position: int, version: int = 1, cause: str = "TicketTransferredIn") -> Moment:
    """The ticket in Radiology's line, as R-006: put there by a move, or moved up in it."""
    return Moment(
        ticket_id="t",
        queue_id="queue-r",
        version=version,
        at=T0 + timedelta(hours=1, minutes=version),
        cause=cause,
        status="waiting",
        position=position,
        number="R-006",
    )


def _moved_out(ticket: Ticket) -> Moment:
    return replace(ticket.at(None, "transferred", cause="TicketTransferredOut"), number="A-006")


@pytest.mark.parametrize("out_first", [True, False])
def test_a_move_is_told_once_under_both_numbers_and_the_new_line_rearms_ahead(
    out_first: bool,
) -> None:
    """Found by the probe: A-006 within "3 ahead" transferred to Radiology as R-006 got nothing
    until "R-006, it's your turn". The two queues' moments come in either order."""
    ticket = Ticket()
    watch = Watch("s1", (Rule("ahead", 3), Rule("moved"), Rule("called")), queue_id=Q)
    assert names(watch, replace(ticket.at(2), number="A-006")) == ["s1:ahead-3:1"]
    out, into = _moved_out(ticket), _moved_in(5)
    dues = [d for m in ((out, into) if out_first else (into, out)) for d in watch.step(m)]
    assert [(d.message_id, d.previous_number, d.moment.number) for d in dues] == [
        ("s1:moved:1", "A-006", "R-006")
    ]
    assert (watch.queue_id, watch.status, watch.number) == ("queue-r", "waiting", "R-006")
    later = [_moved_in(p, v, cause="TicketCalled") for v, p in ((2, 4), (3, 3))]
    assert names(watch, *later) == ["s1:ahead-3:2"]  # heard again as the new line moves
    assert names(watch, _moved_in(5, version=3)) == []  # read twice: once


def test_a_move_into_the_threshold_is_one_message_and_without_moved_ahead_tells_it() -> None:
    told = Watch("s1", (Rule("ahead", 3), Rule("moved")), queue_id=Q, within={"ahead-3": True})
    assert names(told, _moved_in(1)) == ["s1:moved:1"]  # it says "you're next" itself
    silent = Watch("s2", (Rule("ahead", 3),), queue_id=Q, within={"ahead-3": True})
    assert names(silent, _moved_in(1)) == ["s2:ahead-3:1"]  # re-armed: the old line's is gone


def test_a_subscription_made_in_the_new_queue_is_not_told_of_the_move() -> None:
    watch = Watch("s1", (Rule("moved"),), queue_id="queue-r")
    assert names(watch, _moved_in(4)) == []


def test_a_no_show_is_told_it_missed_its_turn_each_time() -> None:
    ticket, watch = Ticket(), Watch("s1", (Rule("missed"), Rule("returned")))
    fired = names(
        watch,
        ticket.at(None, "called"),
        ticket.at(None, "no_show", cause="TicketNoShow"),
        ticket.at(3, cause="TicketReturned"),
        ticket.at(None, "called"),
        ticket.at(None, "no_show", cause="TicketNoShow"),
    )
    assert fired == ["s1:missed:1", "s1:returned:1", "s1:missed:2"]


def test_a_confirmation_that_told_the_place_is_the_crossing_of_the_rules_it_is_within() -> None:
    """Subscribed 2 ahead with `ahead: 3` ("you're in line, 2 ahead"): the line moving to 1 ahead
    is the same crossing, told already; "it's your turn" is still told, and moving back out and
    in again is a new crossing."""
    ticket, rules = (
        Ticket(),
        (Rule("ahead", 3), Rule("eta", 600), Rule("called"), Rule("subscribed")),
    )
    watch = Watch("s1", rules)
    told = ticket.at(3, cause="Subscribed", eta_s=900)  # 2 ahead, called in 15 minutes
    watch.told(told)
    assert watch.within == {"ahead-3": True, "eta-600": False} and watch.status == "waiting"
    # The moments the confirmation already told (a notifier behind the read side) say nothing.
    assert names(watch, replace(told, position=5, cause="TicketEnqueued"), told) == []
    assert names(watch, ticket.at(2, eta_s=500)) == ["s1:eta-600:1"]  # not told: outside it then
    assert names(watch, ticket.at(1)) == []
    assert names(watch, ticket.at(None, "called")) == ["s1:called:1"]


def test_a_confirmation_outside_the_threshold_leaves_the_rules_as_they_were() -> None:
    ticket, watch = Ticket(), Watch("s1", (Rule("ahead", 3), Rule("subscribed")))
    watch.told(ticket.at(7, cause="Subscribed"))
    assert watch.within == {"ahead-3": False}
    assert names(watch, ticket.at(5), ticket.at(4)) == ["s1:ahead-3:1"]
    # "subscribed" is told once, by the API: no moment makes it.
    assert names(watch, ticket.at(None, "called")) == []


def test_a_cancelled_place_is_told_once_then_nothing_more_not_even_the_close() -> None:
    """A queue closed with those still waiting sent home cancels them before the close: each is
    told its place is cancelled, and not "closed to new arrivals: your ticket is still valid"."""
    rules = (Rule("ahead", 3), Rule("called"), Rule("cancelled"), Rule("closed"))
    watch, ticket = Watch("s1", rules), Ticket()
    assert names(watch, ticket.at(5)) == []
    cancelled = ticket.at(None, "cancelled", cause="TicketCancelled")
    assert names(watch, cancelled, cancelled) == ["s1:cancelled:1"]  # twice: once
    assert names(watch, ticket.at(None, "cancelled", cause="TicketCancelled")) == []
    assert watch.queue_event(_queue_event("QueueClosed", ticket.version + 1)) == []
    # Who turned it off is not told; nor is a ticket moved up by another's cancellation.
    assert (
        names(Watch("s2", (Rule("called"),)), Ticket().at(None, "cancelled", "TicketCancelled"))
        == []
    )
    assert names(Watch("s3", (Rule("cancelled"),)), Ticket().at(2, cause="TicketCancelled")) == []
