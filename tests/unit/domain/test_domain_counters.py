"""One person at a counter at a time: the queue's busy_counter_policy, for call-next and for the
call of a given ticket."""

from __future__ import annotations

from dataclasses import replace

import pytest
from domain_gwt import CONFIG, T0, at, called, created, enqueued, given

from domain.commands import (
    CallNext,
    CallTicket,
    ChangeQueueSettings,
    CompleteService,
    CreateQueue,
    MarkNoShow,
    RecallTicket,
)
from domain.config import QueueConfig
from domain.decide import decide
from domain.errors import Rejected
from domain.events import (
    QueueEvent,
    QueuePaused,
    QueueReconfigured,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketNoShow,
    TicketRecalled,
    TicketServed,
    TicketTransferredOut,
)
from domain.evolve import fold
from domain.state import initial_state, now_serving

REFUSE = CONFIG
CLOSE = replace(CONFIG, busy_counter_policy="close_previous")
NOW = at(60)


def line(config: QueueConfig = REFUSE) -> tuple[QueueEvent, ...]:
    """Three waiting; t1 called at counter 1."""
    return (
        created(config),
        enqueued("t1", 1),
        enqueued("t2", 2),
        enqueued("t3", 3),
        called("t1", "1"),
    )


def call_next(counter: str = "1") -> CallNext:
    return CallNext(counter=counter)


def call_t3(counter: str = "1") -> CallTicket:
    return CallTicket(ticket_id="t3", counter=counter, reason="appointment")


Call = CallNext | CallTicket


def call_of(command: Call, ticket_id: str) -> TicketCalled:
    override = isinstance(command, CallTicket)
    return TicketCalled(
        ticket_id=ticket_id,
        counter=command.counter,
        override=override,
        reason="appointment" if override else None,
        at=NOW,
    )


CALLS = [pytest.param(call_next(), "t2", id="call-next"), pytest.param(call_t3(), "t3", id="call")]


def test_a_new_queue_refuses() -> None:
    assert QueueConfig(name="Desk").busy_counter_policy == "refuse"


# --- refuse ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "_next"), CALLS)
def test_refuse_a_call_at_a_counter_whose_person_is_called(command: Call, _next: str) -> None:
    refused = given(*line()).when(command, NOW).rejects("counter-busy")

    assert "A-001" in refused.detail and "called" in refused.detail
    assert "complete" in refused.detail and "no-show" in refused.detail
    assert refused.facts == {
        "counter": "1",
        "tickets": [{"ticket_id": "t1", "number": "A-001", "status": "called"}],
    }


@pytest.mark.parametrize(("command", "_next"), CALLS)
def test_refuse_a_call_at_a_counter_serving_someone(command: Call, _next: str) -> None:
    serving = (*line(), ServiceStarted(ticket_id="t1", counter="1", at=at(30)))

    refused = given(*serving).when(command, NOW).rejects("counter-busy")

    assert "A-001 is being served" in refused.detail and "complete A-001" in refused.detail
    assert "no-show" not in refused.detail  # one being served cannot be a no-show
    assert refused.facts["tickets"] == [{"ticket_id": "t1", "number": "A-001", "status": "serving"}]


@pytest.mark.parametrize(("command", "next_id"), CALLS)
def test_another_counter_is_not_affected(command: Call, next_id: str) -> None:
    at_two = replace(command, counter="2")
    given(*line()).when(at_two, NOW).then(call_of(at_two, next_id))


@pytest.mark.parametrize(
    "closing",
    [
        TicketServed(ticket_id="t1", counter="1", at=at(30)),
        TicketNoShow(ticket_id="t1", counter="1", at=at(30)),
        TicketCancelled(ticket_id="t1", by="customer", reason=None, at=at(30)),
        TicketTransferredOut(ticket_id="t1", to_queue_id="q-2", reason=None, at=at(30)),
    ],
    ids=["served", "no-show", "cancelled", "transferred"],
)
def test_a_counter_whose_visit_closed_calls_again(closing: QueueEvent) -> None:
    given(*line(), closing).when(call_next(), NOW).then(call_of(call_next(), "t2"))


def test_recall_of_the_person_at_the_counter_stays_allowed() -> None:
    given(*line()).when(RecallTicket(ticket_id="t1"), NOW).then(
        TicketRecalled(ticket_id="t1", counter="1", recall_count=1, at=NOW)
    )


def test_an_empty_line_is_queue_empty_even_at_a_busy_counter() -> None:
    """Nobody to call is the answer, whatever the counter: nothing needs closing for it."""
    given(created(), enqueued("t1", 1), called("t1", "1")).when(call_next(), NOW).rejects(
        "queue-empty"
    )
    given(*line()).when(CallNext(counter="1", service_types=("pay",)), NOW).rejects("queue-empty")


def test_other_refusals_come_before_the_busy_counter() -> None:
    given(*line()).when(CallNext(counter="9"), NOW).rejects("validation")
    given(*line()).when(CallTicket(ticket_id="t1", counter="1", reason="r"), NOW).rejects(
        "invalid-transition"
    )


# --- close_previous ----------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "next_id"), CALLS)
def test_close_previous_makes_a_called_person_a_no_show_then_calls(
    command: Call, next_id: str
) -> None:
    events = (
        given(*line(CLOSE))
        .when(command, NOW)
        .then(TicketNoShow(ticket_id="t1", counter="1", at=NOW), call_of(command, next_id))
    )
    state = fold(events, given(*line(CLOSE)).state())
    assert state.tickets["t1"].status == "no_show" and state.tickets["t1"].finished_at == NOW
    assert now_serving(state) == {"1": next_id}


@pytest.mark.parametrize(("command", "next_id"), CALLS)
def test_close_previous_serves_a_person_being_served_then_calls(
    command: Call, next_id: str
) -> None:
    serving = (*line(CLOSE), ServiceStarted(ticket_id="t1", counter="1", at=at(30)))
    given(*serving).when(command, NOW).then(
        TicketServed(ticket_id="t1", counter="1", at=NOW), call_of(command, next_id)
    )


def test_close_previous_closes_every_visit_a_legacy_double_call_left() -> None:
    """A queue that called twice at one counter before the policy: both visits close."""
    legacy = (
        *line(CLOSE),
        ServiceStarted(ticket_id="t1", counter="1", at=at(20)),
        called("t2", "1", at(30)),
    )
    given(*legacy).when(call_next(), NOW).then(
        TicketServed(ticket_id="t1", counter="1", at=NOW),
        TicketNoShow(ticket_id="t2", counter="1", at=NOW),
        call_of(call_next(), "t3"),
    )


def test_the_refusal_of_a_legacy_double_call_names_both() -> None:
    legacy = (*line(), called("t2", "1", at(30)))
    refused = given(*legacy).when(call_next(), NOW).rejects("counter-busy")
    assert "A-001" in refused.detail and "A-002" in refused.detail
    tickets = refused.facts["tickets"]
    assert isinstance(tickets, list) and [t["ticket_id"] for t in tickets] == ["t1", "t2"]


@pytest.mark.parametrize(("command", "next_id"), CALLS)
def test_close_previous_at_a_free_counter_only_calls(command: Call, next_id: str) -> None:
    at_two = replace(command, counter="2")
    given(*line(CLOSE)).when(at_two, NOW).then(call_of(at_two, next_id))


def test_close_previous_with_nobody_waiting_closes_nothing() -> None:
    history = (created(CLOSE), enqueued("t1", 1), called("t1", "1"))
    given(*history).when(call_next(), NOW).rejects("queue-empty")


def test_close_previous_in_a_paused_queue_closes_nothing() -> None:
    paused = (*line(CLOSE), QueuePaused(reason=None, at=at(30)))
    given(*paused).when(call_next(), NOW).rejects("queue-paused")
    given(*paused).when(call_t3(), NOW).rejects("queue-paused")


def test_the_closed_visit_is_what_staff_would_have_done() -> None:
    """close_previous's events are exactly a no-show (or complete) then the call."""
    state = given(*line(CLOSE)).state()
    by_hand = decide(state, MarkNoShow(ticket_id="t1"), NOW)
    assert decide(state, call_next(), NOW)[:1] == by_hand
    started = given(*line(CLOSE), ServiceStarted(ticket_id="t1", counter="1", at=at(30))).state()
    assert decide(started, call_next(), NOW)[:1] == decide(
        started, CompleteService(ticket_id="t1"), NOW
    )


# --- configuring it ----------------------------------------------------------------------------


def test_the_policy_is_a_setting() -> None:
    change = ChangeQueueSettings(changes=(("busy_counter_policy", "close_previous"),))
    given(*line()).when(change, NOW).then(QueueReconfigured(config=CLOSE, at=NOW))
    switched = given(*line(), QueueReconfigured(config=CLOSE, at=at(30)))
    switched.when(call_next(), NOW).then(
        TicketNoShow(ticket_id="t1", counter="1", at=NOW), call_of(call_next(), "t2")
    )


def test_an_unknown_policy_is_refused() -> None:
    change = ChangeQueueSettings(changes=(("busy_counter_policy", "shrug"),))
    refused = given(*line()).when(change, NOW).rejects("validation")
    assert "busy counter policy" in refused.detail and "close_previous" in refused.detail
    bad = replace(CONFIG, busy_counter_policy="shrug")  # type: ignore[arg-type]
    with pytest.raises(Rejected, match="busy counter policy"):
        decide(initial_state("q-1"), CreateQueue(queue_id="q-1", tenant_id="t-1", config=bad), T0)
