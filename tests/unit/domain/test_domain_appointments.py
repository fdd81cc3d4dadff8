"""Appointments: the slot rules, booking, moving, cancelling and checking in; and the fairness of
the rule that joins a booking to the live line, as a property over random days."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.appointments import APPOINTMENT_METADATA, missed, slots
from domain.commands import (
    BookAppointment,
    CallNext,
    CancelAppointment,
    CheckInAppointment,
    CompleteService,
    EnqueueTicket,
    MoveWaiting,
    QueueCommand,
    RescheduleAppointment,
    StartService,
)
from domain.config import AppointmentSettings, OpeningHours, QueueConfig
from domain.decide import decide
from domain.errors import Rejected
from domain.events import (
    AppointmentCheckedIn,
    AppointmentTransferredIn,
    QueueCreated,
    QueueEvent,
)
from domain.evolve import evolve
from domain.snapshot import from_snapshot, to_snapshot
from domain.state import QueueState, initial_state, waiting_ids
from domain.transfer import decide_move

MONDAY = datetime(2024, 3, 4, 7, 0, tzinfo=UTC)  # 08:00 in Madrid, an hour before opening
MADRID = "Europe/Madrid"
HOURS = tuple(OpeningHours(weekday=d, opens="09:00", closes="14:00") for d in range(5))


def local(hour: int, minute: int = 0, day: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour - 8, minutes=minute)


@dataclass
class Queue:
    """A queue driven by commands at given times, every event folded."""

    settings: AppointmentSettings = field(default_factory=AppointmentSettings)
    counters: tuple[str, ...] = ("1",)
    state: QueueState = field(default_factory=lambda: initial_state("q"))
    events: list[tuple[QueueEvent, QueueState | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = QueueConfig(
            name="Registry",
            counters=self.counters,
            timezone=MADRID,
            opening_hours=HOURS,
            service_types=("id", "tax"),
            appointments=self.settings,
        )
        self.apply(
            [QueueCreated(queue_id="q", tenant_id="t", config=config, status="open", at=MONDAY)]
        )

    def apply(self, events: list[QueueEvent]) -> list[QueueEvent]:
        for event in events:
            evolve(self.state, event)
        return events

    def do(self, command: QueueCommand, at: datetime) -> list[QueueEvent]:
        return self.apply(decide(self.state, command, at))


def test_a_booking_takes_a_slot_until_it_is_full() -> None:
    queue = Queue(settings=AppointmentSettings(slot_minutes=15, per_slot=2))
    for n in ("a", "b"):
        queue.do(BookAppointment(appointment_id=n, slot_at=local(10)), MONDAY)
    with pytest.raises(Rejected) as full:
        queue.do(BookAppointment(appointment_id="c", slot_at=local(10)), MONDAY)
    assert full.value.code == "slot-full"
    queue.do(CancelAppointment(appointment_id="a", by="staff"), MONDAY)
    queue.do(BookAppointment(appointment_id="c", slot_at=local(10)), MONDAY)  # room again


@pytest.mark.parametrize(
    ("slot_at", "code"),
    [
        (local(10, 5), "validation"),  # not on the 15-minute grid
        (local(7, 45) - timedelta(days=1), "validation"),  # past
        (local(8, 45), "outside-hours"),  # before opening
        (local(13, 50), "validation"),  # off the grid
        (local(13, 45, day=5), "outside-hours"),  # Saturday
        (local(10, day=61), "validation"),  # past the horizon
    ],
)
def test_slots_outside_the_rules_are_refused(slot_at: datetime, code: str) -> None:
    queue = Queue()
    with pytest.raises(Rejected) as refused:
        queue.do(BookAppointment(appointment_id="a", slot_at=slot_at), MONDAY)
    assert refused.value.code == code


def test_a_queue_without_appointments_takes_none() -> None:
    queue = Queue()
    queue.state.config = QueueConfig(name="Walk-ins only")
    with pytest.raises(Rejected, match="takes no appointments"):
        queue.do(BookAppointment(appointment_id="a", slot_at=local(10)), MONDAY)


def test_the_free_slots_are_those_a_booking_would_take() -> None:
    queue = Queue(settings=AppointmentSettings(slot_minutes=30, per_slot=2))
    queue.do(BookAppointment(appointment_id="a", slot_at=local(9, 30)), MONDAY)
    free = dict(slots(queue.state, local(8), local(11), MONDAY))
    assert free == {local(9): 2, local(9, 30): 1, local(10): 2, local(10, 30): 2}


def test_moving_a_booking_frees_its_slot_and_takes_another() -> None:
    queue = Queue()
    queue.do(BookAppointment(appointment_id="a", slot_at=local(10)), MONDAY)
    queue.do(RescheduleAppointment(appointment_id="a", slot_at=local(11)), MONDAY)
    queue.do(BookAppointment(appointment_id="b", slot_at=local(10)), MONDAY)
    assert queue.state.appointments["a"].slot_at == local(11)


def test_check_in_opens_early_and_closes_after_the_grace() -> None:
    queue = Queue(
        settings=AppointmentSettings(early_minutes=30, grace_minutes=10, lead_minutes=5, per_slot=3)
    )
    for n in ("early", "on-time", "late"):
        queue.do(BookAppointment(appointment_id=n, slot_at=local(10)), MONDAY)
    with pytest.raises(Rejected, match="check-in opens"):
        queue.do(CheckInAppointment(appointment_id="early", ticket_id="t1"), local(9, 29))
    (event,) = queue.do(CheckInAppointment(appointment_id="on-time", ticket_id="t2"), local(9, 55))
    assert isinstance(event, AppointmentCheckedIn)
    assert event.order_at == local(9, 55) and event.number == "A-001"
    assert queue.state.tickets["t2"].metadata == {APPOINTMENT_METADATA: "on-time"}
    with pytest.raises(Rejected) as late:
        queue.do(CheckInAppointment(appointment_id="late", ticket_id="t3"), local(10, 11))
    assert late.value.code == "grace-expired"
    assert missed(queue.state, queue.state.appointments["late"], local(10, 11))
    with pytest.raises(Rejected) as twice:
        queue.do(CheckInAppointment(appointment_id="on-time", ticket_id="t4"), local(9, 56))
    assert twice.value.code == "invalid-transition"


def test_a_checked_in_booking_stands_at_its_slot_less_the_lead() -> None:
    """Walk-ins who came before 09:50 stay ahead; the one who came at 09:52 goes behind."""
    queue = Queue(settings=AppointmentSettings(lead_minutes=10))
    queue.do(BookAppointment(appointment_id="a", slot_at=local(10)), MONDAY)
    queue.do(EnqueueTicket(ticket_id="w1"), local(9, 30))
    queue.do(EnqueueTicket(ticket_id="w2"), local(9, 52))
    queue.do(CheckInAppointment(appointment_id="a", ticket_id="b"), local(9, 58))
    assert waiting_ids(queue.state) == ["w1", "b", "w2"]


def test_snapshots_keep_the_bookings() -> None:
    queue = Queue()
    queue.do(BookAppointment(appointment_id="a", slot_at=local(10), service_type="id"), MONDAY)
    queue.do(BookAppointment(appointment_id="b", slot_at=local(11)), MONDAY)
    queue.do(CheckInAppointment(appointment_id="a", ticket_id="t"), local(9, 55))
    again = from_snapshot(to_snapshot(queue.state))
    assert to_snapshot(again) == to_snapshot(queue.state)
    assert again.appointments == queue.state.appointments


# -- fairness, as a property over random days ---------------------------------------------------


def _walk_in_bound(s: AppointmentSettings) -> int:
    """At most this many bookings pass a walk-in (AppointmentSettings' rule)."""
    return s.per_slot * (math.ceil((s.lead_minutes + s.grace_minutes) / s.slot_minutes) + 1)


def _day(
    seed: int, s: AppointmentSettings, counters: int
) -> tuple[Queue, dict[str, datetime], list[str]]:
    """A morning of walk-ins and bookings (some early, some late, some missed), with calls and
    services; the joining times and the order people were called in."""
    rng = random.Random(seed)
    queue = Queue(settings=s, counters=tuple(str(c) for c in range(1, counters + 1)))
    bookings = []
    for n in range(rng.randint(0, 30)):
        slot = local(9) + timedelta(
            minutes=s.slot_minutes * rng.randrange(0, 270 // s.slot_minutes)
        )
        try:
            queue.do(BookAppointment(appointment_id=f"ap{n}", slot_at=slot), MONDAY)
            bookings.append((f"ap{n}", slot))
        except Rejected:
            pass  # full
    arrivals = []
    for n in range(rng.randint(5, 60)):
        arrivals.append((local(9) + timedelta(minutes=rng.uniform(0, 280)), "walk", f"w{n}"))
    for appointment_id, slot in bookings:
        if rng.random() < 0.9:  # one in ten never comes
            offset = rng.uniform(-s.early_minutes, s.grace_minutes)
            arrivals.append((slot + timedelta(minutes=offset), "booked", appointment_id))
    for n in range(rng.randint(20, 90)):
        arrivals.append((local(9) + timedelta(minutes=rng.uniform(0, 300)), "call", f"c{n}"))
    joined: dict[str, datetime] = {}
    called: list[tuple[str, datetime]] = []
    for moment, kind, name in sorted(arrivals):
        moment = max(moment, local(9))
        if kind == "walk":
            queue.do(EnqueueTicket(ticket_id=name), moment)
            joined[name] = moment
        elif kind == "booked":
            ticket = f"t-{name}"
            queue.do(CheckInAppointment(appointment_id=name, ticket_id=ticket), moment)
            joined[ticket] = moment
        else:
            counter = rng.choice(queue.counters)
            for done in queue.state.at_counters.get(counter, [])[:]:
                queue.do(StartService(ticket_id=done), moment)
                queue.do(CompleteService(ticket_id=done), moment)
            if queue.state.waiting:
                (call, *_) = queue.do(CallNext(counter=counter), moment)
                called.append((call.ticket_id, moment))  # type: ignore[attr-defined]
    return queue, joined, called


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    slot_minutes=st.sampled_from([10, 15, 20, 30]),
    per_slot=st.integers(1, 3),
    lead_minutes=st.sampled_from([0, 5, 10, 20, 45]),
    grace_minutes=st.sampled_from([0, 5, 10]),
    counters=st.integers(1, 3),
)
def test_nobody_waits_past_the_fairness_bound(
    seed: int,
    slot_minutes: int,
    per_slot: int,
    lead_minutes: int,
    grace_minutes: int,
    counters: int,
) -> None:
    s = AppointmentSettings(
        slot_minutes=slot_minutes,
        per_slot=per_slot,
        lead_minutes=lead_minutes,
        grace_minutes=grace_minutes,
        early_minutes=60,
    )
    queue, joined, called = _day(seed, s, counters)
    tickets = queue.state.tickets
    stands = {t: tickets[t].order_at for t, _ in called}
    booked = {t for t, _ in called if APPOINTMENT_METADATA in tickets[t].metadata}
    for i, (ticket, _) in enumerate(called):
        # Those called after this one joined and before it was: who went ahead of it.
        ahead = [b for b, when in called[:i] if when >= joined[ticket]]
        if ticket in booked:
            # A booking is never called after anybody who stands in line after its place.
            assert all(stands[b] <= stands[ticket] for b in ahead), ticket
        else:
            # A walk-in is passed by at most the bound's bookings: those that checked in after
            # it joined and were called before it.
            passed = [b for b in ahead if b in booked and joined[b] > joined[ticket]]
            assert len(passed) <= _walk_in_bound(s), (ticket, passed)
    # Everybody still waiting is in line in the rule's order.
    line = waiting_ids(queue.state)
    assert [tickets[t].order_at for t in line] == sorted(tickets[t].order_at for t in line)


def test_a_merge_takes_the_bookings_that_fit_and_leaves_the_others() -> None:
    """Each booking still to come moves with its id and slot where the receiving queue has
    room at that slot; the others stay booked where they were."""
    source = Queue(settings=AppointmentSettings(per_slot=2))
    target = Queue(settings=AppointmentSettings(per_slot=1))
    target.state.queue_id = "q2"
    for n, slot in (("a", local(10)), ("b", local(10)), ("c", local(10, 15)), ("d", local(9))):
        source.do(BookAppointment(appointment_id=n, slot_at=slot), MONDAY)
    source.do(CancelAppointment(appointment_id="d", by="staff"), MONDAY)
    target.do(BookAppointment(appointment_id="x", slot_at=local(10)), MONDAY)
    source.do(EnqueueTicket(ticket_id="w"), local(9, 30))

    out, into = decide_move(
        source.state, target.state, MoveWaiting(to_queue_id="q2", close=True), local(9, 40)
    )

    moved = [e.appointment_id for e in into if isinstance(e, AppointmentTransferredIn)]
    assert moved == ["c"]  # 10:00 is full there; d was cancelled
    assert [type(e).__name__ for e in out] == [
        "TicketTransferredOut",
        "AppointmentTransferredOut",
        "QueueClosed",
    ]
    source.apply(out)
    target.apply(into)
    assert source.state.appointments["c"].status == "transferred"
    assert source.state.appointments["a"].status == "booked"
    assert target.state.appointments["c"].slot_at == local(10, 15)
    again = from_snapshot(to_snapshot(target.state))
    assert again.appointments == target.state.appointments
