"""What the hub does with the messages it reads at once (projections/fanout.py Hub.handle): in
order, except that when several were waiting (the hub fell behind), a follower of whole views
gets only the newest of its channel's. No Redis: the messages are handed to `handle` as the
subscription gives them."""

from __future__ import annotations

import json
from typing import Any, cast

from projections.fanout import Hub
from projections.live_follower import Follower


def _pmessage(channel: str, version: int) -> dict[str, Any]:
    return {
        "type": "pmessage",
        "channel": channel.encode(),
        "data": json.dumps({"version": version}),
    }


def _followers(hub: Hub, channel: str) -> tuple[Follower, Follower]:
    views, changes = Follower(channel, 64), Follower(channel, 64)
    views.whole = True
    hub._followers[channel] = {views, changes}
    return views, changes


def _drained(follower: Follower) -> list[int]:
    out = []
    while (message := follower.take()) is not None:
        out.append(message["version"])
    return out


def test_a_busy_hub_gives_whole_view_followers_the_newest_and_the_others_every_message() -> None:
    hub = Hub(cast(Any, None), "vq:*")
    a_views, a_changes = _followers(hub, "a")
    b_views, b_changes = _followers(hub, "b")
    hub.handle([_pmessage("a", 1), _pmessage("b", 7), _pmessage("a", 2), _pmessage("a", 3)])
    assert _drained(a_views) == [3]
    assert _drained(a_changes) == [1, 2, 3]  # a ticket's fold needs every change, in order
    assert _drained(b_views) == [7] and _drained(b_changes) == [7]


def test_one_message_at_a_time_goes_to_everybody() -> None:
    hub = Hub(cast(Any, None), "vq:*")
    views, changes = _followers(hub, "a")
    for version in (1, 2):
        hub.handle([_pmessage("a", version)])
    assert _drained(views) == [1, 2] and _drained(changes) == [1, 2]


def test_revocations_read_with_the_messages_are_heard() -> None:
    hub = Hub(cast(Any, None), "vq:*", revocations="vq:revocations")
    heard: list[Any] = []
    hub.on_revoked = heard.append
    views, _ = _followers(hub, "a")
    revocation = {"type": "message", "channel": b"vq:revocations", "data": '{"key_id": "k1"}'}
    hub.handle([_pmessage("a", 1), revocation, _pmessage("a", 2)])
    assert heard and _drained(views) == [2]
