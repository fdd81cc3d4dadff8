"""A ticket stream's batch pushed from the hub's task (query_api/ticket_stream.py `_Direct`): only a
batch that moves the line around the ticket by one step; any other is left to the stream's own
task with the fold exactly as it was (TicketFollower.mark / back_to)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from projections.follower import TicketFollower
from projections.live_follower import SENT
from query_api.ticket_stream import _Direct

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _follower() -> TicketFollower:
    view = {"queue_id": "q", "ticket_id": "t", "version": 5, "status": "waiting"}
    return TicketFollower("t", {**view, "position": 3, "counter": None}, None)


def _batch(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"version": changes[-1]["version"], "changes": list(changes)}


def _left(version: int, ticket: str, place: int) -> dict[str, Any]:
    return {"version": version, "ticket_id": ticket, "left": place, "joined": None}


def _direct(follower: TicketFollower) -> tuple[_Direct, list[bytes]]:
    pushed: list[bytes] = []

    def push(chunk: bytes) -> Awaitable[None]:
        pushed.append(chunk)
        return SENT

    return _Direct(follower, push, lambda: NOW), pushed


def test_a_step_of_the_line_is_pushed_from_the_hub() -> None:
    follower = _follower()
    direct, pushed = _direct(follower)
    assert direct.show(_batch(_left(6, "ahead", 1))) is SENT
    assert len(pushed) == 1 and pushed[0].startswith(b"id: 6\nevent: ticket\ndata: ")
    assert direct.last is not None and direct.last["position"] == 2
    assert (follower.version, follower.position) == (6, 2)
    # A change behind it moves nothing it shows: nothing pushed, the fold goes on.
    assert direct.show(_batch(_left(7, "behind", 5))) is SENT
    assert len(pushed) == 1 and follower.version == 7


def test_every_other_batch_is_left_to_the_stream_with_the_fold_untouched() -> None:
    follower = _follower()
    direct, pushed = _direct(follower)
    before = follower.mark()
    called = {"version": 6, "ticket_id": "t", "status": "called", "counter": "1", "left": 3}
    two_steps = _batch(_left(6, "a", 1), _left(7, "b", 1))
    gap = _batch(_left(8, "a", 1))
    for message in (_batch(called), two_steps, gap):
        assert direct.show(message) is None
        assert follower.mark() == before
    assert pushed == [] and direct.last is None
