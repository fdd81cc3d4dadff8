"""What the live followers saw against what the commands answered (pure functions).

A follower row (bench/follow_client.py): [kind, queue, status, error, started, live_at, ended,
versions, times]; kind is `sse` (a queue's SSE stream), `ws` (a queue's WebSocket) or `ticket`
(a ticket's SSE stream). A command is (queue, the stream version it answered, when the answer
arrived).

* A queue follower should see every command of its queue: the command has reached it when a
  version at least its own arrived (the projector may fold several commands into one message).
  Latency = that arrival - the answer; none arrived = unseen.
* A ticket follower sees only the changes of its ticket (its position, its status), each with the
  queue's version of that change: latency is counted for the versions a command answered.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from bench.stats import summary_ms

QUEUE_KINDS = ("sse", "ws")
KINDS = (*QUEUE_KINDS, "ticket")
Command = tuple[str, int, float]


def increasing(versions: Sequence[int], times: Sequence[float]) -> tuple[list[int], list[float]]:
    """The first arrival of each version, keeping only versions newer than every one before."""
    kept_v: list[int] = []
    kept_t: list[float] = []
    for version, at in zip(versions, times, strict=True):
        if not kept_v or version > kept_v[-1]:
            kept_v.append(version)
            kept_t.append(at)
    return kept_v, kept_t


def queue_delays(
    commands: Iterable[Command], followers: Iterable[Sequence[Any]]
) -> tuple[list[float], int]:
    """Per (command, follower of its queue): seconds from the answer to the first arrival of a
    version >= the command's; and how many never arrived."""
    by_queue: dict[str, list[tuple[int, float]]] = {}
    for queue, version, answered in commands:
        by_queue.setdefault(queue, []).append((version, answered))
    delays: list[float] = []
    unseen = 0
    for row in followers:
        versions, times = increasing(row[7], row[8])
        for version, answered in by_queue.get(row[1], ()):
            index = bisect.bisect_left(versions, version)
            if index == len(versions):
                unseen += 1
            else:  # the push may beat the answer back to the generator: counted as 0
                delays.append(max(times[index] - answered, 0.0))
    return delays, unseen


def ticket_delays(commands: Iterable[Command], followers: Iterable[Sequence[Any]]) -> list[float]:
    """Per ticket event whose version a command answered: arrival - answer."""
    answered = {(queue, version): at for queue, version, at in commands}
    delays = []
    for row in followers:
        for version, at in zip(row[7], row[8], strict=True):
            when = answered.get((row[1], version))
            if when is not None:
                delays.append(max(at - when, 0.0))
    return delays


def push(commands: Sequence[Command], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Push latency overall and by kind, with the versions expected but never seen."""
    by_kind: dict[str, Any] = {}
    everything: list[float] = []
    unseen_all = 0
    for kind in KINDS:
        mine = [row for row in rows if row[0] == kind and _was_live(row)]
        if not mine:
            continue
        if kind in QUEUE_KINDS:
            delays, unseen = queue_delays(commands, mine)
        else:
            delays, unseen = ticket_delays(commands, mine), 0
        by_kind[kind] = {**summary_ms(delays), "unseen": unseen, "followers": len(mine)}
        everything += delays
        unseen_all += unseen
    return {"all": {**summary_ms(everything), "unseen": unseen_all}, "by_kind": by_kind}


def arrivals(rows: Iterable[Sequence[Any]], start: float, end: float) -> int:
    """Events received by all followers between two instants."""
    return sum(bisect.bisect_left(row[8], end) - bisect.bisect_left(row[8], start) for row in rows)


def connects(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """How the connects went: answers by status (0: none in time), connect latency (the request
    to the first event), the time to get all of them live, and what refused ones said."""
    statuses: Counter[str] = Counter(str(row[2]) for row in rows)
    live = [row for row in rows if _was_live(row)]
    errors: Counter[str] = Counter(row[3] for row in rows if row[3] and not _was_live(row))
    first = min((row[4] for row in rows), default=0.0)
    return {
        "followers": len(rows),
        "live": len(live),
        "refused": len(rows) - len(live),
        "statuses": dict(sorted(statuses.items())),
        "errors": dict(errors.most_common(5)),
        "latency": summary_ms([row[5] - row[4] for row in live]),
        "all_live_s": round(max((row[5] for row in live), default=first) - first, 2),
    }


def ended_early(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
    """Followers the server (or the network) ended before the bench closed them, by kind (a
    ticket stream ends by design once its ticket is served or cancelled)."""
    ended: Counter[str] = Counter(row[0] for row in rows if row[6] is not None and _was_live(row))
    return dict(ended)


def _was_live(row: Sequence[Any]) -> bool:
    return row[5] is not None and row[5] > 0
