"""Accuracy bookkeeping and the selector, on hand-made event sequences."""

from __future__ import annotations

from datetime import datetime

from estimation_events import Queue, at

from domain.config import QueueConfig
from domain.estimation import AccuracyBook, Estimate, Selector
from domain.estimation.accuracy import over_twice
from domain.events import QueueEvent
from domain.state import QueueState, TicketState

CONFIG = QueueConfig(name="Desk", counters=("1",), mean_service_seconds=300)


def rng(p10: float, p50: float, p90: float, name: str = "x") -> Estimate:
    return Estimate(p10, p50, p90, 0, at(0), name)


class _Booked:
    """Feeds a queue's events to a book (the book only needs the events)."""

    def __init__(self, book: AccuracyBook) -> None:
        self.book = book
        self.name = "book"

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        self.book.observe(state, event)

    def estimate(self, state: QueueState, ticket_id: str, at: datetime | None = None) -> None:
        return None


def test_called_tickets_are_scored_and_the_others_counted() -> None:
    book = AccuracyBook()
    queue = Queue(CONFIG, _Booked(book))
    for ticket in ("hit", "miss", "gone", "moved", "still"):
        queue.enqueue(ticket, 0)
    book.given("hit", at(0), {"x": rng(50, 100, 200)})
    book.given("miss", at(0), {"x": rng(50, 100, 200)})
    book.given("gone", at(0), {"x": rng(50, 100, 200)})
    book.given("moved", at(0), {"x": rng(50, 100, 200)})
    book.given("still", at(0), {"x": rng(50, 100, 200)})
    book.given("hit", at(5), {"x": rng(0, 1, 2)})  # only the estimate at enqueue is judged
    queue.call("hit", "1", 110)  # within 20% of 100, inside 50..200, off by 10
    queue.serve("hit", "1", 120)
    queue.call("miss", "1", 300)  # off by 200, outside
    queue.cancel("gone", 310)
    queue.transfer("moved", 320)
    figures = book.figures["x"]
    assert (figures.estimated, figures.called, figures.cancelled, figures.transferred) == (
        5,
        2,
        1,
        1,
    )
    assert figures.waiting == 1
    assert figures.mae == (10 + 200) / 2
    assert figures.within == 0.5
    assert figures.coverage == 0.5
    assert figures.over_twice == 0.5  # "miss" waited 300 s for a P50 of 100
    assert figures.as_dict()["over_twice_p50"] == 0.5


def test_a_zero_estimate_is_within_only_when_the_call_is_immediate() -> None:
    book = AccuracyBook()
    queue = Queue(CONFIG, _Booked(book))
    queue.enqueue("a", 0)
    queue.enqueue("b", 0)
    book.given("a", at(0), {"x": rng(0, 0, 0)})
    book.given("b", at(0), {"x": rng(0, 0, 0)})
    queue.call("a", "1", 0)
    queue.serve("a", "1", 30)
    queue.call("b", "1", 40)
    assert book.figures["x"].within == 0.5


class _Fixed:
    """An estimator that always says the same thing."""

    def __init__(self, name: str, p50: float, ready: bool = True) -> None:
        self.name = name
        self.p50 = p50
        self.ready = ready

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        pass

    def estimate(
        self,
        state: QueueState,
        ticket_id: str,
        at: datetime | None = None,
        newcomer: TicketState | None = None,
    ) -> Estimate | None:
        ticket = state.tickets.get(ticket_id)
        if ticket is None or ticket.status != "waiting":
            return None
        return Estimate(
            0.7 * self.p50, self.p50, 1.5 * self.p50, 0, at or ticket.enqueued_at, self.name
        )


def _serve_all(selector: Selector, right: float, count: int) -> Queue:
    queue = Queue(CONFIG, selector)
    when = 0.0
    for i in range(count):
        queue.enqueue(f"t{i}", when)
        queue.call(f"t{i}", "1", when + right)
        queue.serve(f"t{i}", "1", when + right + 1)
        when += right + 10
    return queue


def test_the_selector_serves_the_member_that_is_right() -> None:
    selector = Selector([_Fixed("wrong", 1000), _Fixed("right", 100)])
    assert selector.choice == "wrong"  # the first member until the data speaks
    _serve_all(selector, right=100, count=30)
    assert selector.choice == "right"
    figures = {f.estimator: f for f in selector.accuracy()}
    assert figures["right"].within == 1.0
    assert figures["wrong"].within == 0.0
    assert figures["served"].called == 30


def test_a_member_short_of_data_is_only_a_fallback() -> None:
    selector = Selector([_Fixed("rules", 1000), _Fixed("learned", 100, ready=False)])
    _serve_all(selector, right=100, count=30)
    assert selector.choice == "rules"
    assert selector.served_by == {"rules": 30}


def test_a_promise_is_broken_past_twice_its_median_and_a_minute_more() -> None:
    # Twice the P50 told, for a wait long enough to be told in minutes.
    assert not over_twice(1200.0, 600.0) and over_twice(1200.5, 600.0)
    # Told "no wait" or "a few seconds": a minute more is still within the promise.
    assert not over_twice(60.0, 0.0) and over_twice(61.0, 0.0)
    assert not over_twice(89.0, 30.0) and over_twice(91.0, 30.0)
