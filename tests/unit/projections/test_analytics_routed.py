"""The analytics count tickets the API routed to the best queue apart: how many joined, their
wait at the first call, and the P50 they were shown against the wait since."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from domain.commands import ROUTED_METADATA
from domain.config import QueueConfig
from domain.estimation.model import Estimate
from domain.events import QueueCreated, TicketCalled, TicketEnqueued
from domain.evolve import fold
from domain.state import initial_state
from projections.analytics import bucket_of, measure
from projections.analytics_report import summarize

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CONFIG = QueueConfig(name="Desk", counters=("1",))


def joined(ticket_id: str, routed: bool) -> TicketEnqueued:
    return TicketEnqueued(
        ticket_id=ticket_id,
        number="A-001",
        daily_number=1,
        seq=1,
        priority="normal",
        service_type=None,
        channel="kiosk",
        contact=None,
        metadata={ROUTED_METADATA: "best-wait"} if routed else {},
        at=T0,
    )


def test_a_routed_ticket_is_counted_when_it_joins_and_when_it_is_called() -> None:
    created = QueueCreated(queue_id="q", tenant_id="t", config=CONFIG, status="open", at=T0)
    counts: dict[str, int] = {}
    for ticket_id, routed in (("r", True), ("w", False)):
        event = joined(ticket_id, routed)
        state = fold([created, event], initial_state("q"))
        before = copy.deepcopy(state.tickets[ticket_id])
        shown = Estimate(60.0, 240.0, 600.0, 0, T0, "rules")
        call = TicketCalled(
            ticket_id=ticket_id,
            counter="1",
            override=False,
            reason=None,
            at=T0 + timedelta(minutes=5),
        )
        for found in (measure(CONFIG, None, event), measure(CONFIG, before, call, shown)):
            for name, amount in found.counts.get(bucket_of(T0), {}).items():
                counts[name] = counts.get(name, 0) + amount
    assert counts["arrivals"] == 2 and counts["called"] == 2
    assert (counts["routed"], counts["routed_called"], counts["routed_shown"]) == (1, 1, 1)
    assert counts["routed_wait_ms"] == counts["routed_shown_wait_ms"] == 300_000
    assert counts["routed_shown_ms"] == 240_000


def test_the_report_shows_means_and_nothing_for_no_routed_ticket() -> None:
    class Bucket:
        def __init__(self, counts: dict[str, int]) -> None:
            self.counts, self.waits, self.services = counts, [], []

    row = summarize(
        [Bucket({"routed": 2, "routed_called": 2, "routed_wait_ms": 500_000, "routed_shown": 1,
                 "routed_shown_ms": 180_000, "routed_shown_wait_ms": 200_000})],
        T0, T0 + timedelta(hours=1), 900,
    )  # fmt: skip
    assert row["routed"] == {
        "joined": 2,
        "called": 2,
        "mean_wait_seconds": 250.0,
        "shown": 1,
        "mean_shown_p50_seconds": 180.0,
        "mean_wait_when_shown_seconds": 200.0,
    }
    empty = summarize([Bucket({})], T0, T0 + timedelta(hours=1), 900)["routed"]
    assert empty["joined"] == 0 and empty["mean_wait_seconds"] is None
