"""Merge and split (`MoveWaiting`): everyone waiting, or those of some service types, move to
another queue in one command; each keeps its number and its place in its class."""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from domain_gwt import CONFIG, at, called, created, enqueued

from domain.commands import EnqueueTicket, MoveWaiting
from domain.config import QueueConfig
from domain.decide import decide
from domain.errors import Rejected
from domain.events import (
    QueueClosed,
    QueueEvent,
    TicketEnqueued,
    TicketTransferredIn,
    TicketTransferredOut,
)
from domain.evolve import evolve, fold
from domain.snapshot import to_snapshot
from domain.state import QueueState, initial_state, waiting_ids
from domain.transfer import decide_move

PRIORITIES = ("urgent", "vip", "normal")
PRIORITIES_BY_RANK = CONFIG.priority_classes  # highest class first
SPLIT_CONFIG = QueueConfig(name="Cashier", prefix="C", counters=("c1",), service_types=("pay",))


def line(queue_id: str, prefix: str, size: int, rng: random.Random) -> QueueState:
    """`size` people waiting, joined at random moments of the morning in random classes."""
    events: list[QueueEvent] = [created(CONFIG, queue_id=queue_id)]
    moments = sorted(rng.uniform(0, 7200) for _ in range(size))
    for seq, moment in enumerate(moments, start=1):
        events.append(
            enqueued(
                f"{queue_id}-{seq}",
                seq,
                priority=rng.choice(PRIORITIES),
                service_type=rng.choice(("pay", "ask")),
                when=at(moment),
                prefix=prefix,
            )
        )
    return fold(events, initial_state(queue_id))


def move(
    source: QueueState, target: QueueState, command: MoveWaiting, now: datetime | None = None
) -> tuple[list[QueueEvent], list[QueueEvent]]:
    """The decision, checked to change neither state; then both states folded forward."""
    before = (to_snapshot(source), to_snapshot(target))
    out, into = decide_move(source, target, command, now or at(9000))
    assert (to_snapshot(source), to_snapshot(target)) == before
    for event in out:
        evolve(source, event)
    for event in into:
        evolve(target, event)
    return out, into


@pytest.mark.parametrize("seed", range(1, 6))
def test_a_merge_of_two_lines_of_200_keeps_every_number_and_interleaves_by_class_and_time(
    seed: int,
) -> None:
    rng = random.Random(seed)
    source, target = line("q-a", "A", 200, rng), line("q-b", "B", 200, rng)
    numbers = {t.ticket_id: t.number for s in (source, target) for t in s.tickets.values()}
    places = {t.ticket_id: (t.priority, t.order_at) for t in source.tickets.values()}
    old_source, old_target = waiting_ids(source), waiting_ids(target)
    # Both lines' people by class, then by the time each stands in line by: the merged line.
    everyone = [*source.tickets.values(), *target.tickets.values()]
    expected = [
        t.ticket_id
        for t in sorted(everyone, key=lambda t: (PRIORITIES_BY_RANK.index(t.priority), t.order_at))
    ]

    out, into = move(source, target, MoveWaiting(to_queue_id="q-b", close=True, reason="merge"))

    assert [type(e) for e in out] == [TicketTransferredOut] * 200 + [QueueClosed]
    assert [type(e) for e in into] == [TicketTransferredIn] * 200
    merged = waiting_ids(target)
    assert sorted(merged) == sorted(old_source + old_target)
    # Everyone moved keeps their class and the time they stand in line by: the merged line is
    # ordered by both (the line's own order), the two lines interleaved.
    assert {t: (target.tickets[t].priority, target.tickets[t].order_at) for t in old_source} == (
        places
    )
    assert merged == expected
    # Each old line's people keep their order among themselves.
    assert [t for t in merged if t in set(old_source)] == old_source
    assert [t for t in merged if t in set(old_target)] == old_target
    assert {t: target.tickets[t].number for t in merged} == {t: numbers[t] for t in merged}
    assert not source.waiting and source.status == "closed"


def test_the_receiving_queue_numbers_on_where_it_was() -> None:
    rng = random.Random(7)
    source, target = line("q-a", "A", 3, rng), line("q-b", "B", 4, rng)
    move(source, target, MoveWaiting(to_queue_id="q-b"))
    joined = decide(target, EnqueueTicket(ticket_id="late"), at(9100))
    assert isinstance(joined[0], TicketEnqueued)
    assert (joined[0].daily_number, joined[0].seq) == (5, 8), "4 of its own, then 3 moved in"


@pytest.mark.parametrize("seed", range(1, 4))
def test_a_split_by_service_type_gives_two_lines_whose_union_is_the_old_one(seed: int) -> None:
    rng = random.Random(seed)
    source = line("q-a", "A", 200, rng)
    target = fold([created(SPLIT_CONFIG, queue_id="q-c")], initial_state("q-c"))
    old = waiting_ids(source)
    paying = [t for t in old if source.tickets[t].service_type == "pay"]

    out, into = move(source, target, MoveWaiting(to_queue_id="q-c", service_types=("pay",)))

    assert len(out) == len(into) == len(paying) > 0
    assert waiting_ids(target) == paying
    assert waiting_ids(source) == [t for t in old if t not in set(paying)]
    assert source.status == "open", "a split closes nothing"
    assert all(target.tickets[t].number.startswith("A-") for t in paying)


def test_those_at_a_counter_stay_and_an_emptied_queue_can_still_close() -> None:
    source = fold([created(queue_id="q-a"), enqueued("t1", 1), called("t1")], initial_state("q-a"))
    target = fold([created(queue_id="q-b")], initial_state("q-b"))
    out, into = move(source, target, MoveWaiting(to_queue_id="q-b", close=True))
    assert (out, into) == ([QueueClosed(reason=None, at=at(9000))], [])
    assert source.tickets["t1"].status == "called"


def refused(source: QueueState, target: QueueState, command: MoveWaiting) -> Rejected:
    with pytest.raises(Rejected) as caught:
        move(source, target, command)
    return caught.value


def test_nothing_moves_unless_everyone_can() -> None:
    rng = random.Random(3)
    source = line("q-a", "A", 5, rng)
    small = QueueConfig(name="Small", counters=("1",), capacity=6)
    full = fold(
        [created(small, queue_id="q-b"), enqueued("x1", 1), enqueued("x2", 2)],
        initial_state("q-b"),
    )
    assert refused(source, full, MoveWaiting(to_queue_id="q-b")).code == "queue-full"
    paying_only = fold([created(SPLIT_CONFIG, queue_id="q-c")], initial_state("q-c"))
    assert refused(source, paying_only, MoveWaiting(to_queue_id="q-c")).code == "validation"
    closed = fold([created(queue_id="q-d", status="closed")], initial_state("q-d"))
    assert refused(source, closed, MoveWaiting(to_queue_id="q-d")).code == "queue-closed"
    other = fold([created(queue_id="q-e", tenant_id="t-2")], initial_state("q-e"))
    assert refused(source, other, MoveWaiting(to_queue_id="q-e")).code == "not-found"


def test_a_split_names_a_type_the_queue_offers_and_someone_must_wait_for_it() -> None:
    source = fold(
        [created(queue_id="q-a"), enqueued("t1", 1, service_type="ask")], initial_state("q-a")
    )
    target = fold([created(queue_id="q-b")], initial_state("q-b"))
    unknown = MoveWaiting(to_queue_id="q-b", service_types=("tax",))
    assert refused(source, target, unknown).code == "validation"
    nobody = MoveWaiting(to_queue_id="q-b", service_types=("pay",))
    assert refused(source, target, nobody).code == "queue-empty"


def test_a_number_held_in_the_receiving_queue_is_replaced_by_its_next_one() -> None:
    rng = random.Random(5)
    source, target = line("q-a", "A", 3, rng), line("q-b", "A", 4, rng)  # both A-001...
    _, into = move(source, target, MoveWaiting(to_queue_id="q-b"))
    numbers = [target.tickets[t].number for t in waiting_ids(target)]
    assert sorted(numbers) == [f"A-{n:03d}" for n in range(1, 8)], "nobody holds a number twice"
    renumbered = [e.number for e in into if isinstance(e, TicketTransferredIn)]
    assert renumbered == ["A-005", "A-006", "A-007"]
    joined = decide(target, EnqueueTicket(ticket_id="late"), at(9100))
    assert isinstance(joined[0], TicketEnqueued) and joined[0].number == "A-008"
