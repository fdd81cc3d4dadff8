"""How a live follower waits (projections/fanout.py Follower): one future per wait and no timer;
its keepalives come from the hub's once-a-second sweep (`beat`). No Redis: the hub's side is
played by calling `offer`, `beat` and `end` as it would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from projections.fanout import KEEPALIVE, RESYNC, SWEEP_S, Follower
from projections.live_follower import SENT
from projections.unavailable import ReadModelUnavailable


def _quiet_for(follower: Follower, seconds: float) -> None:
    for _ in range(round(seconds / SWEEP_S)):
        follower.beat()


async def test_a_waiting_reader_is_woken_by_the_next_message() -> None:
    follower = Follower("q", 4)
    waiting = follower.waiter()
    assert waiting is not None and not waiting.done()
    follower.offer({"version": 1})
    await asyncio.wait_for(waiting, 1)
    assert follower.waiter() is None  # a message waits: nothing to wait for
    assert follower.take() == {"version": 1}
    assert follower.take() is None


async def test_newest_supersedes_the_messages_before_it_and_take_keeps_them_all() -> None:
    views, changes = Follower("q", 8), Follower("q", 8)
    for version in (1, 2, 3):
        views.offer({"version": version})
        changes.offer({"version": version})
    assert views.newest() == {"version": 3}
    assert views.newest() is None
    assert [changes.take() for _ in range(3)] == [{"version": v} for v in (1, 2, 3)]
    for version in range(1, 10):  # one more than the buffer holds: the reader must re-read
        views.offer({"version": version})
    assert views.newest() is RESYNC
    for version in range(10, 20):
        views.offer({"version": version})
    assert views.newest() == {"version": 19}  # a message after a resync is the view now


async def test_keepalives_come_after_the_asked_quiet_and_never_replace_a_message() -> None:
    follower = Follower("q", 4)
    follower.keepalive(15.0)
    _quiet_for(follower, 14.0)
    assert follower.waiter() is not None  # not yet
    follower.beat()
    assert follower.take() is KEEPALIVE
    _quiet_for(follower, 10.0)
    follower.offer({"version": 1})  # a message: the quiet starts again
    _quiet_for(follower, 14.0)
    assert follower.take() == {"version": 1}
    assert follower.take() is None
    follower.beat()
    assert follower.take() is KEEPALIVE
    # A reader busy elsewhere for longer: the keepalive is not put behind a waiting message.
    follower.offer({"version": 2})
    _quiet_for(follower, 30.0)
    assert follower.take() == {"version": 2}
    assert follower.take() is None


async def test_without_keepalives_the_sweep_puts_nothing_in() -> None:
    follower = Follower("q", 4)
    _quiet_for(follower, 60.0)
    assert follower.take() is None
    assert await follower.next(0.01) is None  # its own timer says "quiet"


async def test_next_with_keepalives_waits_for_the_sweep_not_a_timer() -> None:
    follower = Follower("q", 4)
    follower.keepalive(1.0)
    reading = asyncio.ensure_future(follower.next(0.01))
    await asyncio.sleep(0.05)
    assert not reading.done()  # `within` is not used: no timer
    follower.beat()
    assert await asyncio.wait_for(reading, 1) is None  # a keepalive reads as quiet
    follower.offer({"version": 5})
    assert await follower.next(0.01) == {"version": 5}


async def test_an_ended_follower_raises_to_its_waiting_reader_and_after() -> None:
    follower = Follower("q", 4)
    waiting = follower.waiter()
    assert waiting is not None
    follower.offer({"version": 1})
    follower.end(ReadModelUnavailable("gone"))
    await asyncio.wait_for(waiting, 1)
    with pytest.raises(ReadModelUnavailable):
        follower.newest()
    with pytest.raises(ReadModelUnavailable):
        follower.waiter()
    with pytest.raises(ReadModelUnavailable):
        follower.take()
    follower.offer({"version": 2})  # nothing is taken any more
    follower.beat()
    with pytest.raises(ReadModelUnavailable):
        follower.take()


async def test_a_direct_reader_shows_messages_from_the_hub_without_being_woken() -> None:
    """While its reader waits with nothing unshown, a message goes to `direct` there and then;
    while the reader is busy (not waiting), messages are buffered for it as without one."""
    follower = Follower("q", 4)
    shown: list[int] = []

    def direct(message: dict[str, Any]) -> Any:
        shown.append(message["version"])
        return SENT

    follower.direct = direct
    follower.offer({"version": 1})  # nobody waits yet (the reader reads its first view)
    assert shown == [] and follower.take() == {"version": 1}
    waiting = follower.waiter()
    assert waiting is not None
    follower.offer({"version": 2})
    follower.offer({"version": 3})
    assert shown == [2, 3] and not waiting.done()  # shown, and the reader still sleeps
    assert follower.take() is None and follower.take_pending() is None


async def test_what_a_direct_show_could_not_finish_goes_first_and_what_follows_waits() -> None:
    follower = Follower("q", 4)
    order: list[str] = []
    release = asyncio.get_running_loop().create_future()

    async def rest_of_2() -> None:
        await release  # the connection's buffer is full until the client reads
        order.append("2 (rest)")

    def direct(message: dict[str, Any]) -> Any:
        order.append(f"{message['version']} (direct)")
        return rest_of_2() if message["version"] == 2 else SENT

    follower.direct = direct
    waiting = follower.waiter()
    assert waiting is not None
    follower.offer({"version": 2})
    assert waiting.done()  # woken: it has the rest to await
    follower.offer({"version": 3})  # not shown from the hub while the rest is pending
    assert order == ["2 (direct)"]
    assert follower.waiter() is None
    rest = follower.take_pending()
    assert rest is not None and follower.take_pending() is None
    release.set_result(None)
    await rest
    assert follower.take() == {"version": 3}
    assert order == ["2 (direct)", "2 (rest)"]
    assert follower.waiter() is not None  # nothing left: it waits again, direct again


async def test_what_a_direct_show_raises_is_raised_to_the_reader_not_the_hub() -> None:
    follower = Follower("q", 4)

    def direct(message: dict[str, Any]) -> Any:
        raise RuntimeError("the server refused the send")

    follower.direct = direct
    waiting = follower.waiter()
    follower.offer({"version": 2})  # the hub's call returns
    assert waiting is not None and waiting.done()
    rest = follower.take_pending()
    assert rest is not None
    with pytest.raises(RuntimeError, match="refused"):
        await rest


async def test_an_ended_follower_with_a_pending_rest_awaits_it_then_raises() -> None:
    follower = Follower("q", 4)
    done: list[str] = []

    async def rest() -> None:
        done.append("rest")

    follower.direct = lambda message: rest()
    assert follower.waiter() is not None
    follower.offer({"version": 2})
    follower.end(ReadModelUnavailable("Redis went away"))
    pending = follower.take_pending()
    assert pending is not None
    await pending
    assert done == ["rest"]
    with pytest.raises(ReadModelUnavailable):
        follower.take()


async def test_the_next_message_comes_after_the_rest_of_a_direct_show() -> None:
    follower = Follower("q", 4)
    order: list[str] = []
    release = asyncio.get_running_loop().create_future()

    async def rest_of_2() -> None:
        await release
        order.append("2 (rest)")

    follower.direct = lambda message: rest_of_2() if message["version"] == 2 else None
    receiving = asyncio.create_task(follower.message())
    await asyncio.sleep(0)  # the reader waits
    follower.offer({"version": 2})  # its show cannot finish yet
    follower.offer({"version": 3})  # buffered behind it
    await asyncio.sleep(0)
    assert not receiving.done()
    release.set_result(None)
    assert await receiving == {"version": 3} and order == ["2 (rest)"]
