"""The queue summary's estimate ("if you join now") is the longest projection there is, and the
stream processor is asked for it after every batch: it is computed again only when the line moved
by a tenth, the queue's status or settings changed, or NEWCOMER_EVERY_S passed, and in between
served with the people ahead counted now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.commands import CallNext, CreateQueue, EnqueueTicket, PauseQueue, QueueCommand
from domain.config import QueueConfig
from domain.decide import decide
from projections.estimates import NEWCOMER_EVERY_S
from projections.model import QueueModel

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Fold:
    def __init__(self) -> None:
        self.model = QueueModel.new("q")
        self.now = START
        self.asked = 0
        selector = self.model.estimates.selector
        original = selector.newcomer

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.asked += 1
            return original(*args, **kwargs)

        selector.newcomer = counted  # type: ignore[method-assign]
        config = QueueConfig(name="Desk", prefix="D", counters=("1",))
        self.run(CreateQueue(queue_id="q", tenant_id="t", config=config, status="open"))

    def run(self, command: QueueCommand, after: float = 1.0) -> None:
        self.now += timedelta(seconds=after)
        for event in decide(self.model.state, command, self.now):
            self.model.apply(event)

    def join(self, n: int, after: float = 0.1) -> None:
        for i in range(n):
            self.run(EnqueueTicket(ticket_id=f"t{self.now.timestamp()}-{i}"), after)

    def newcomer(self) -> dict[str, Any] | None:
        return self.model.estimates.newcomer(self.model.state)


def test_a_short_line_is_estimated_again_at_every_change() -> None:
    fold = Fold()
    for n in range(1, 6):
        fold.join(1)
        first = fold.newcomer()
        assert first is not None and first["ahead"] == n
    assert fold.asked == 5


def test_a_long_line_is_estimated_again_once_it_moved_by_a_tenth_or_time_passed() -> None:
    fold = Fold()
    fold.join(100)
    assert fold.newcomer() is not None
    asked = fold.asked
    fold.join(5)  # 105 waiting: the range computed for 100 still stands
    shown = fold.newcomer()
    assert shown is not None and shown["ahead"] == 105, "the people ahead are counted now"
    assert fold.asked == asked
    assert fold.newcomer() == shown  # asked twice in a batch: once
    fold.join(5)  # 110: a tenth more
    assert fold.newcomer() is not None
    assert fold.asked == asked + 1
    fold.run(CallNext(counter="1"), after=NEWCOMER_EVERY_S)  # time passed
    assert fold.newcomer() is not None
    assert fold.asked == asked + 2


def test_a_change_of_status_is_estimated_again_at_once() -> None:
    fold = Fold()
    fold.join(50)
    assert fold.newcomer() is not None
    asked = fold.asked
    fold.run(PauseQueue(reason="break"), after=0.1)
    assert fold.newcomer() is not None
    assert fold.asked == asked + 1
