"""Transfers: one command, an event for the source stream and one for the target stream."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from domain_gwt import T0, TENANT, at, called, created, enqueued

from domain.commands import TransferTicket
from domain.config import QueueConfig
from domain.decide import decide_transfer
from domain.errors import Rejected
from domain.events import (
    PersonalData,
    QueueEvent,
    ServiceStarted,
    TicketEnqueued,
    TicketServed,
    TicketTransferredIn,
    TicketTransferredOut,
)
from domain.evolve import fold
from domain.snapshot import to_snapshot
from domain.state import QueueState, initial_state, position, waiting_ids

TARGET_CONFIG = QueueConfig(name="Cashier", prefix="C", counters=("c1",))
SOURCE_HISTORY: tuple[QueueEvent, ...] = (
    created(),
    TicketEnqueued(
        ticket_id="t1",
        number="A-001",
        daily_number=1,
        seq=1,
        priority="vip",
        service_type="pay",
        channel="kiosk",
        personal=PersonalData(key_id="k1", sealed="c2VhbGVk"),
        metadata={"k": "v"},
        at=at(0),
    ),
    enqueued("t2", 2, when=at(1)),
)


def queue(*events: QueueEvent, queue_id: str) -> QueueState:
    return fold(events, initial_state(queue_id))


def source(*extra: QueueEvent) -> QueueState:
    return queue(*SOURCE_HISTORY, *extra, queue_id="q-1")


def target(
    config: QueueConfig = TARGET_CONFIG,
    *extra: QueueEvent,
    status: str = "open",
    tenant_id: str = TENANT,
) -> QueueState:
    first = created(config, status=status, queue_id="q-2", tenant_id=tenant_id)
    return queue(first, *extra, queue_id="q-2")


def transfer(
    src: QueueState, dst: QueueState, command: TransferTicket, now: datetime | None = None
) -> tuple[list[QueueEvent], list[QueueEvent]]:
    now = at(100) if now is None else now
    before = (to_snapshot(src), to_snapshot(dst))
    try:
        return decide_transfer(src, dst, command, now)
    finally:
        assert (to_snapshot(src), to_snapshot(dst)) == before


def test_transfer_emits_out_and_in_with_a_number_of_the_target() -> None:
    dst = target(TARGET_CONFIG, enqueued("x1", 1, prefix="C"), enqueued("x2", 2, prefix="C"))
    out, into = transfer(
        source(), dst, TransferTicket(ticket_id="t1", to_queue_id="q-2", reason="wrong desk")
    )
    assert out == [
        TicketTransferredOut(ticket_id="t1", to_queue_id="q-2", reason="wrong desk", at=at(100))
    ]
    assert into == [
        TicketTransferredIn(
            ticket_id="t1",
            from_queue_id="q-1",
            number="C-003",
            daily_number=3,
            seq=3,
            priority="vip",
            service_type="pay",
            channel="kiosk",
            personal=PersonalData(key_id="k1", sealed="c2VhbGVk"),
            metadata={"k": "v"},
            original_enqueued_at=at(0),
            order_at=at(0),
            at=at(100),
        )
    ]


@pytest.mark.parametrize(
    "extra",
    [(), (called("t1"),), (called("t1"), ServiceStarted(ticket_id="t1", counter="1", at=T0))],
)
def test_waiting_called_and_serving_tickets_can_be_transferred(
    extra: tuple[QueueEvent, ...],
) -> None:
    src = source(*extra)
    out, into = transfer(src, target(), TransferTicket(ticket_id="t1", to_queue_id="q-2"))
    after = fold(out, src)
    assert after.tickets["t1"].status == "transferred"
    assert "t1" not in waiting_ids(after) and "t1" not in after.at_counters.get("1", [])
    assert position(fold(into, target()), "t1") == 1


def test_keep_enqueue_time_puts_the_ticket_where_its_arrival_belongs() -> None:
    dst = target(
        TARGET_CONFIG,
        enqueued("x1", 1, priority="vip", prefix="C", when=at(-10)),
        enqueued("x2", 2, priority="vip", prefix="C", when=at(50)),
    )
    _, into = transfer(source(), dst, TransferTicket(ticket_id="t1", to_queue_id="q-2"))
    after = fold(into, dst)
    assert waiting_ids(after) == ["x1", "t1", "x2"]
    assert after.tickets["t1"].enqueued_at == at(0)
    assert after.tickets["t1"].class_since == at(100)


def test_back_of_line_puts_the_ticket_last_in_its_class() -> None:
    config = replace(TARGET_CONFIG, transfer_policy="back_of_line")
    dst = target(
        config,
        enqueued("x1", 1, priority="vip", prefix="C", when=at(-10)),
        enqueued("x2", 2, priority="vip", prefix="C", when=at(50)),
        enqueued("x3", 3, prefix="C", when=at(60)),
    )
    _, into = transfer(source(), dst, TransferTicket(ticket_id="t1", to_queue_id="q-2"))
    assert isinstance(into[0], TicketTransferredIn) and into[0].order_at == at(100)
    after = fold(into, dst)
    assert waiting_ids(after) == ["x1", "x2", "t1", "x3"]
    assert after.tickets["t1"].enqueued_at == at(0)


def test_a_class_the_target_lacks_becomes_its_default() -> None:
    config = replace(TARGET_CONFIG, priority_classes=("high", "low"), default_priority="low")
    _, into = transfer(source(), target(config), TransferTicket(ticket_id="t1", to_queue_id="q-2"))
    assert isinstance(into[0], TicketTransferredIn) and into[0].priority == "low"


def test_the_command_may_set_a_service_type_of_the_target() -> None:
    config = replace(TARGET_CONFIG, service_types=("cash", "card"))
    _, into = transfer(
        source(),
        target(config),
        TransferTicket(ticket_id="t1", to_queue_id="q-2", service_type="card"),
    )
    assert isinstance(into[0], TicketTransferredIn) and into[0].service_type == "card"


def test_a_ticket_can_come_back_to_a_queue_it_was_transferred_out_of() -> None:
    src = source()
    dst = target()
    out, into = transfer(src, dst, TransferTicket(ticket_id="t1", to_queue_id="q-2"))
    src, dst = fold(out, src), fold(into, dst)
    back_out, back_in = transfer(
        dst, src, TransferTicket(ticket_id="t1", to_queue_id="q-1"), at(200)
    )
    src, dst = fold(back_in, src), fold(back_out, dst)
    assert dst.tickets["t1"].status == "transferred"
    assert src.tickets["t1"].status == "waiting"
    assert waiting_ids(src) == ["t1", "t2"]  # keep_enqueue_time: the original arrival counts
    assert "t1" not in src.finished


REJECTIONS = {
    "unknown ticket": (
        source(),
        target(),
        TransferTicket(ticket_id="zz", to_queue_id="q-2"),
        "not-found",
    ),
    "served ticket": (
        source(called("t1"), TicketServed(ticket_id="t1", counter="1", at=T0)),
        target(),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "invalid-transition",
    ),
    "same queue": (
        source(),
        source(),
        TransferTicket(ticket_id="t1", to_queue_id="q-1"),
        "validation",
    ),
    "target missing": (
        source(),
        initial_state("q-2"),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "not-found",
    ),
    "other tenant": (
        source(),
        target(tenant_id="t-other"),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "not-found",
    ),
    "target closed": (
        source(),
        target(status="closed"),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "queue-closed",
    ),
    "target full": (
        source(),
        target(replace(TARGET_CONFIG, capacity=1), enqueued("x1", 1, prefix="C")),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "queue-full",
    ),
    "own service type unknown to target": (
        source(),
        target(replace(TARGET_CONFIG, service_types=("cash",))),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "validation",
    ),
    "commanded service type unknown to target": (
        source(),
        target(replace(TARGET_CONFIG, service_types=("cash",))),
        TransferTicket(ticket_id="t1", to_queue_id="q-2", service_type="card"),
        "validation",
    ),
    "id already waiting in target": (
        source(),
        target(TARGET_CONFIG, enqueued("t1", 1, prefix="C")),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "already-exists",
    ),
    "source missing": (
        initial_state("q-1"),
        target(),
        TransferTicket(ticket_id="t1", to_queue_id="q-2"),
        "not-found",
    ),
}


@pytest.mark.parametrize(
    ("src", "dst", "command", "code"), REJECTIONS.values(), ids=REJECTIONS.keys()
)
def test_transfer_rejections(
    src: QueueState, dst: QueueState, command: TransferTicket, code: str
) -> None:
    with pytest.raises(Rejected) as raised:
        transfer(src, dst, command)
    assert raised.value.code == code


def test_a_paused_target_accepts_transfers() -> None:
    out, into = transfer(
        source(), target(status="paused"), TransferTicket(ticket_id="t2", to_queue_id="q-2")
    )
    assert len(out) == len(into) == 1
