"""A ticket's life: enqueue, call, recall, serve, no-show, cancel, return, priority changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from domain_gwt import CONFIG, T0, at, called, created, enqueued, given

from domain.commands import (
    CallNext,
    CallTicket,
    CancelTicket,
    ChangePriority,
    CompleteService,
    EnqueueTicket,
    MarkNoShow,
    QueueCommand,
    RecallTicket,
    ReturnTicket,
    StartService,
)
from domain.events import (
    PersonalData,
    QueueEvent,
    QueuePaused,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketPriorityChanged,
    TicketRecalled,
    TicketReturned,
    TicketServed,
)
from domain.state import now_serving, position, waiting_ids

# --- EnqueueTicket -----------------------------------------------------------------------------


def test_enqueue_emits_a_numbered_ticket() -> None:
    personal = PersonalData(key_id="k1", sealed="c2VhbGVk")
    command = EnqueueTicket(
        ticket_id="t1",
        priority="vip",
        service_type="pay",
        channel="kiosk",
        personal=personal,
        metadata={"k": "v"},
        language="de",
    )
    given(created()).when(command, at(5)).then(
        TicketEnqueued(
            ticket_id="t1",
            number="A-001",
            daily_number=1,
            seq=1,
            priority="vip",
            service_type="pay",
            channel="kiosk",
            personal=personal,
            metadata={"k": "v"},
            language="de",
            at=at(5),
        )
    )


def test_enqueue_uses_the_default_class_and_the_next_seq_and_number() -> None:
    given(created(), enqueued("t1", 1), enqueued("t2", 2)).when(EnqueueTicket(ticket_id="t3")).then(
        enqueued("t3", 3, priority="normal")
    )


def test_enqueue_in_a_paused_queue_is_accepted() -> None:
    given(created(status="paused")).when(EnqueueTicket(ticket_id="t1")).then(enqueued("t1", 1))


def test_enqueue_in_a_closed_queue_is_refused() -> None:
    given(created(status="closed")).when(EnqueueTicket(ticket_id="t1")).rejects("queue-closed")


def test_enqueue_unknown_priority_is_invalid() -> None:
    given(created()).when(EnqueueTicket(ticket_id="t1", priority="gold")).rejects("validation")


def test_enqueue_unknown_service_type_is_invalid() -> None:
    given(created()).when(EnqueueTicket(ticket_id="t1", service_type="x")).rejects("validation")


def test_enqueue_without_service_type_is_fine_in_a_queue_that_has_some() -> None:
    given(created()).when(EnqueueTicket(ticket_id="t1")).then(enqueued("t1", 1))


def test_enqueue_empty_ticket_id_is_invalid() -> None:
    given(created()).when(EnqueueTicket(ticket_id="")).rejects("validation")


def test_enqueue_a_used_ticket_id_is_already_exists() -> None:
    given(created(), enqueued("t1", 1)).when(EnqueueTicket(ticket_id="t1")).rejects(
        "already-exists"
    )


def test_enqueue_an_id_of_a_finished_ticket_is_already_exists() -> None:
    given(
        created(),
        enqueued("t1", 1),
        TicketCancelled(ticket_id="t1", by="customer", reason=None, at=T0),
    ).when(EnqueueTicket(ticket_id="t1")).rejects("already-exists")


def test_enqueue_into_a_full_queue_is_refused_and_a_call_makes_room() -> None:
    full = replace(CONFIG, capacity=2)
    history = (created(full), enqueued("t1", 1), enqueued("t2", 2))
    given(*history).when(EnqueueTicket(ticket_id="t3")).rejects("queue-full")
    given(*history, called("t1")).when(EnqueueTicket(ticket_id="t3")).then(enqueued("t3", 3))


# --- CallNext ----------------------------------------------------------------------------------


def test_call_next_calls_the_first_in_policy_order() -> None:
    given(
        created(),
        enqueued("t1", 1),
        enqueued("t2", 2, priority="vip", when=at(1)),
    ).when(CallNext(counter="2"), at(9)).then(called("t2", "2", at(9)))


def test_call_next_in_a_paused_queue_is_refused() -> None:
    given(created(), enqueued("t1", 1), QueuePaused(reason=None, at=T0)).when(
        CallNext(counter="1")
    ).rejects("queue-paused")


def test_call_next_in_a_closed_queue_serves_who_is_still_waiting() -> None:
    given(created(status="closed"), enqueued("t1", 1)).when(CallNext(counter="1")).then(
        called("t1")
    )


def test_call_next_unknown_counter_is_invalid() -> None:
    given(created(), enqueued("t1", 1)).when(CallNext(counter="9")).rejects("validation")


def test_call_next_unknown_service_type_filter_is_invalid() -> None:
    given(created(), enqueued("t1", 1)).when(
        CallNext(counter="1", service_types=("nope",))
    ).rejects("validation")


def test_call_next_on_an_empty_line_is_queue_empty() -> None:
    given(created()).when(CallNext(counter="1")).rejects("queue-empty")


def test_call_next_with_a_filter_skips_other_service_types() -> None:
    history = (
        created(),
        enqueued("t1", 1, service_type="ask"),
        enqueued("t2", 2),
        enqueued("t3", 3, service_type="pay"),
    )
    given(*history).when(CallNext(counter="1", service_types=("pay",))).then(called("t3"))
    given(*history).when(CallNext(counter="1")).then(called("t1"))
    given(*history[:3]).when(CallNext(counter="1", service_types=("pay",))).rejects("queue-empty")


def test_two_calls_at_one_counter_from_before_the_policy_still_fold() -> None:
    """Queues once called twice at one counter; their events fold, the newest is now serving
    (today such a call is refused or closes the previous visit: test_domain_counters.py)."""
    history = (created(), enqueued("t1", 1), enqueued("t2", 2), called("t1"))
    given(*history).when(CallNext(counter="1")).rejects("counter-busy")
    state = given(*history, called("t2")).state()
    assert now_serving(state) == {"1": "t2"}
    assert state.tickets["t1"].status == "called"
    state = given(*history, called("t2"), TicketServed(ticket_id="t2", counter="1", at=T0)).state()
    assert now_serving(state) == {"1": "t1"}


# --- CallTicket (override) ---------------------------------------------------------------------


def test_call_ticket_out_of_order() -> None:
    given(created(), enqueued("t1", 1), enqueued("t2", 2)).when(
        CallTicket(ticket_id="t2", counter="2", reason="wheelchair")
    ).then(TicketCalled(ticket_id="t2", counter="2", override=True, reason="wheelchair", at=T0))


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (CallTicket(ticket_id="zz", counter="1", reason="r"), "not-found"),
        (CallTicket(ticket_id="t1", counter="9", reason="r"), "validation"),
        (CallTicket(ticket_id="t1", counter="1", reason=" "), "validation"),
        (CallTicket(ticket_id="t2", counter="1", reason="r"), "invalid-transition"),
    ],
)
def test_call_ticket_rejections(command: CallTicket, code: str) -> None:
    given(created(), enqueued("t1", 1), enqueued("t2", 2), called("t2")).when(command).rejects(code)


def test_call_ticket_in_a_paused_queue_is_refused() -> None:
    given(created(), enqueued("t1", 1), QueuePaused(reason=None, at=T0)).when(
        CallTicket(ticket_id="t1", counter="1", reason="r")
    ).rejects("queue-paused")


# --- Recall, start, complete, no-show, cancel ----------------------------------------------------

CALLED = (created(), enqueued("t1", 1), called("t1", "2"))
SERVING = (*CALLED, ServiceStarted(ticket_id="t1", counter="2", at=T0))
WAITING = (created(), enqueued("t1", 1))
SERVED = (*SERVING, TicketServed(ticket_id="t1", counter="2", at=T0))


def test_recall_counts_recalls() -> None:
    given(*CALLED).when(RecallTicket(ticket_id="t1"), at(30)).then(
        TicketRecalled(ticket_id="t1", counter="2", recall_count=1, at=at(30))
    )
    given(*CALLED, TicketRecalled(ticket_id="t1", counter="2", recall_count=1, at=T0)).when(
        RecallTicket(ticket_id="t1")
    ).then(TicketRecalled(ticket_id="t1", counter="2", recall_count=2, at=T0))


def test_start_service_on_a_called_ticket() -> None:
    given(*CALLED).when(StartService(ticket_id="t1")).then(
        ServiceStarted(ticket_id="t1", counter="2", at=T0)
    )


@pytest.mark.parametrize("history", [CALLED, SERVING], ids=["called", "serving"])
def test_complete_service_on_a_called_or_serving_ticket(history: tuple[QueueEvent, ...]) -> None:
    given(*history).when(CompleteService(ticket_id="t1")).then(
        TicketServed(ticket_id="t1", counter="2", at=T0)
    )


def test_mark_no_show_on_a_called_ticket() -> None:
    given(*CALLED).when(MarkNoShow(ticket_id="t1")).then(
        TicketNoShow(ticket_id="t1", counter="2", at=T0)
    )


@pytest.mark.parametrize("history", [WAITING, CALLED], ids=["waiting", "called"])
def test_cancel_a_waiting_or_called_ticket(history: tuple[QueueEvent, ...]) -> None:
    given(*history).when(CancelTicket(ticket_id="t1", by="customer", reason="tired")).then(
        TicketCancelled(ticket_id="t1", by="customer", reason="tired", at=T0)
    )


WRONG_STATUS = [
    (RecallTicket(ticket_id="t1"), WAITING),
    (RecallTicket(ticket_id="t1"), SERVING),
    (StartService(ticket_id="t1"), WAITING),
    (StartService(ticket_id="t1"), SERVING),
    (CompleteService(ticket_id="t1"), WAITING),
    (CompleteService(ticket_id="t1"), SERVED),
    (MarkNoShow(ticket_id="t1"), WAITING),
    (MarkNoShow(ticket_id="t1"), SERVING),
    (CancelTicket(ticket_id="t1"), SERVING),
    (CancelTicket(ticket_id="t1"), SERVED),
    (ReturnTicket(ticket_id="t1"), CALLED),
    (ReturnTicket(ticket_id="t1"), SERVED),
    (ChangePriority(ticket_id="t1", priority="vip", reason="r"), CALLED),
]


@pytest.mark.parametrize(("command", "history"), WRONG_STATUS)
def test_commands_on_a_ticket_in_the_wrong_status_are_invalid_transitions(
    command: QueueCommand, history: tuple[QueueEvent, ...]
) -> None:
    error = given(*history).when(command).rejects("invalid-transition")
    assert "t1" in error.detail and " needs " in error.detail


@pytest.mark.parametrize(
    "command",
    [
        RecallTicket(ticket_id="zz"),
        StartService(ticket_id="zz"),
        CompleteService(ticket_id="zz"),
        MarkNoShow(ticket_id="zz"),
        CancelTicket(ticket_id="zz"),
        ReturnTicket(ticket_id="zz"),
        ChangePriority(ticket_id="zz", priority="vip", reason="r"),
    ],
)
def test_commands_on_an_unknown_ticket_are_not_found(command: QueueCommand) -> None:
    given(*CALLED).when(command).rejects("not-found")


def test_a_served_ticket_leaves_its_counter() -> None:
    state = given(*SERVED).state()
    assert now_serving(state) == {}
    assert state.tickets["t1"].status == "served"
    assert state.tickets["t1"].finished_at == T0


# --- ReturnTicket ----------------------------------------------------------------------------

NO_SHOW = (
    created(),
    enqueued("t1", 1),
    enqueued("t2", 2),
    enqueued("t3", 3),
    called("t1"),
    TicketNoShow(ticket_id="t1", counter="1", at=at(60)),
)


def test_return_within_grace_rejoins_at_the_back_of_its_class() -> None:
    grace_end = at(60 + CONFIG.no_show_grace_seconds)
    given(*NO_SHOW).when(ReturnTicket(ticket_id="t1"), grace_end).then(
        TicketReturned(ticket_id="t1", seq=4, at=grace_end)
    )
    state = given(*NO_SHOW, TicketReturned(ticket_id="t1", seq=4, at=grace_end)).state()
    assert waiting_ids(state) == ["t2", "t3", "t1"]
    assert position(state, "t1") == 3
    assert state.tickets["t1"].class_since == grace_end
    assert state.tickets["t1"].enqueued_at == T0
    assert state.next_seq == 5


def test_return_after_grace_is_grace_expired() -> None:
    late = at(60 + CONFIG.no_show_grace_seconds + 1)
    given(*NO_SHOW).when(ReturnTicket(ticket_id="t1"), late).rejects("grace-expired")


# --- ChangePriority ------------------------------------------------------------------------------


def test_change_priority_keeps_the_arrival_time_within_the_new_class() -> None:
    history = (
        created(),
        enqueued("v1", 1, priority="vip", when=at(10)),
        enqueued("n1", 2, when=at(5)),
        enqueued("v2", 3, priority="vip", when=at(20)),
    )
    given(*history).when(
        ChangePriority(ticket_id="n1", priority="vip", reason="elderly"), at(30)
    ).then(
        TicketPriorityChanged(
            ticket_id="n1", from_priority="normal", to_priority="vip", reason="elderly", at=at(30)
        )
    )
    state = given(
        *history,
        TicketPriorityChanged(
            ticket_id="n1", from_priority="normal", to_priority="vip", reason="elderly", at=at(30)
        ),
    ).state()
    assert waiting_ids(state) == ["n1", "v1", "v2"]
    assert state.tickets["n1"].class_since == at(30)
    assert state.tickets["n1"].order_at == at(5)


@pytest.mark.parametrize(
    "command",
    [
        ChangePriority(ticket_id="t1", priority="gold", reason="r"),
        ChangePriority(ticket_id="t1", priority="normal", reason="r"),
        ChangePriority(ticket_id="t1", priority="vip", reason=""),
    ],
    ids=["unknown class", "same class", "no reason"],
)
def test_change_priority_rejections(command: ChangePriority) -> None:
    given(*WAITING).when(command).rejects("validation")
