"""A followed ticket's stream says when its queue is paused (nobody is called, and the wait
range does not know for how long) and when calling resumes: the batch message carries the
queue's view, whose status the fold keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from projections.follower import TicketFollower

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _queue_change(version: int, kind: str) -> dict[str, Any]:
    return {"version": version, "type": kind, "ticket_id": None, "left": None, "joined": None}


def _follower() -> TicketFollower:
    view = {
        "ticket_id": "me",
        "queue_id": "q",
        "status": "waiting",
        "position": 2,
        "people_ahead": 1,
        "counter": None,
        "version": 10,
        "queue_status": "open",
    }
    return TicketFollower("me", view, None)


def test_a_pause_and_its_end_are_each_shown_to_a_waiting_ticket() -> None:
    follower = _follower()
    paused = follower.fold(
        {"version": 11, "changes": [_queue_change(11, "QueuePaused")], "view": {"status": "paused"}}
    )
    [view] = follower.views(paused, None, NOW)
    assert (view["version"], view["position"], view["queue_status"]) == (11, 2, "paused")
    resumed = follower.fold(
        {"version": 12, "changes": [_queue_change(12, "QueueResumed")], "view": {"status": "open"}}
    )
    [view] = follower.views(resumed, None, NOW)
    assert (view["version"], view["queue_status"]) == (12, "open")


def test_a_batch_that_leaves_the_queue_as_it_was_shows_nothing_new() -> None:
    follower = _follower()
    quiet = follower.fold(
        {"version": 11, "changes": [_queue_change(11, "CounterOpened")], "view": {"status": "open"}}
    )
    assert follower.views(quiet, None, NOW) == []


def test_a_fold_tried_and_not_taken_leaves_the_status_as_it_was() -> None:
    follower = _follower()
    mark = follower.mark()
    follower.fold(
        {"version": 11, "changes": [_queue_change(11, "QueuePaused")], "view": {"status": "paused"}}
    )
    follower.back_to(mark)
    assert follower.queue_status == "open"
