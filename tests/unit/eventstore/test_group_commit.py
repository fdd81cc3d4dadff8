"""The group committer (eventstore/group.py) on a stand-in server that records the statements it
is given and answers when told: a burst goes out as two groups at once, a stream is never in two
groups on their way, its appends go in the order asked, and nothing is left waiting."""

from __future__ import annotations

import asyncio

from eventstore.errors import ConcurrencyError
from eventstore.group import GroupCommitter


class _Server:
    """Holds each group until `answer` releases it; remembers the groups and how many were on
    their way at once."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.beside: list[list[str]] = []  # per group: the documents on their way as it came
        self._on_the_way_now: list[str] = []
        self.open: list[asyncio.Future[None]] = []
        self.most_at_once = 0
        self._on_the_way = 0

    async def run(self, documents: list[str]) -> list[dict[str, str] | None]:
        self.groups.append(list(documents))
        self.beside.append(list(self._on_the_way_now))
        self._on_the_way_now += documents
        self._on_the_way += 1
        self.most_at_once = max(self.most_at_once, self._on_the_way)
        held = asyncio.get_running_loop().create_future()
        self.open.append(held)
        try:
            await held
        finally:
            self._on_the_way -= 1
            self._on_the_way_now = [d for d in self._on_the_way_now if d not in documents]
        codes = {"stale": "23505", "deadlocked": "40P01"}
        return [{"code": codes[d]} if d in codes else None for d in documents]

    async def answer(self) -> None:
        """Releases every group on its way, then lets the committer send the next ones."""
        opened, self.open = self.open, []
        for held in opened:
            held.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)


async def _settle(server: _Server, calls: list[asyncio.Task[None]]) -> None:
    """Answers every group until each call has its answer (a bounded number of rounds)."""
    for _ in range(20):
        if all(call.done() for call in calls):
            return
        await server.answer()
    raise AssertionError("appends left waiting")


async def _until_sent(server: _Server, groups: int) -> None:
    for _ in range(50):
        if len(server.groups) >= groups:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{len(server.groups)} groups sent, {groups} expected")


async def test_a_lone_append_goes_at_once() -> None:
    server = _Server()
    group = GroupCommitter(server.run)
    done = asyncio.create_task(group.append("a", ["s1"]))
    await _until_sent(server, 1)
    assert server.groups == [["a"]]
    await server.answer()
    await done


async def test_a_burst_goes_as_two_groups_on_their_way_at_once() -> None:
    """Sixteen appends at once: two statements of eight, both on the server together."""
    server = _Server()
    group = GroupCommitter(server.run)
    calls = [asyncio.create_task(group.append(f"d{i}", [f"s{i}"])) for i in range(16)]
    await _until_sent(server, 2)
    assert [len(g) for g in server.groups] == [8, 8]
    assert server.most_at_once == 2
    assert sorted(d for g in server.groups for d in g) == sorted(f"d{i}" for i in range(16))
    await server.answer()
    await asyncio.gather(*calls)


async def test_a_streams_appends_are_never_on_their_way_together_and_keep_their_order() -> None:
    """s1's first append is on its way; its second (and third, and the transfer naming s1 and
    s2) wait for it, in the order asked, while s3's goes out at once in the second sender."""
    server = _Server()
    group = GroupCommitter(server.run)
    streams = {
        "s1-first": ["s1"],
        "s1-second": ["s1"],
        "s2-transfer": ["s1", "s2"],
        "s2-alone": ["s2"],
        "s3": ["s3"],
        "s1-third": ["s1"],
    }
    first = asyncio.create_task(group.append("s1-first", streams["s1-first"]))
    await _until_sent(server, 1)
    later = [asyncio.create_task(group.append(d, streams[d])) for d in list(streams)[1:]]
    await _until_sent(server, 2)
    assert server.groups == [["s1-first"], ["s3"]]  # s2's waits behind the transfer naming s1
    await _settle(server, [first, *later])
    await asyncio.gather(first, *later)
    order = [d for g in server.groups for d in g]
    assert order.index("s1-first") < order.index("s1-second") < order.index("s2-transfer")
    assert order.index("s2-transfer") < order.index("s2-alone")
    assert order.index("s1-second") < order.index("s1-third")
    for sent, beside in zip(server.groups, server.beside, strict=True):  # never two at once
        named = {stream for d in sent for stream in streams[d]}
        assert named.isdisjoint(stream for d in beside for stream in streams[d]), (sent, beside)


async def test_what_waits_behind_a_busy_stream_is_sent_when_it_returns() -> None:
    """The second sender finds only appends of a stream on its way and stops; the first sends
    them when its group returns (nobody waits forever), and a refusal reaches its caller alone."""
    server = _Server()
    group = GroupCommitter(server.run)
    first = asyncio.create_task(group.append("a", ["s1"]))
    await _until_sent(server, 1)
    stale = asyncio.create_task(group.append("stale", ["s1"]))
    good = asyncio.create_task(group.append("b", ["s1"]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(server.groups) == 1  # held behind "a"
    await server.answer()
    await _until_sent(server, 2)
    assert server.groups[1] == ["stale", "b"]
    await _settle(server, [first, stale, good])
    await first
    await good
    try:
        await stale
    except ConcurrencyError:
        pass
    else:
        raise AssertionError("the stale append was not refused")


async def test_one_sender_sends_one_group_at_a_time() -> None:
    server = _Server()
    group = GroupCommitter(server.run, in_flight=1)
    calls = [asyncio.create_task(group.append(f"d{i}", [f"s{i}"])) for i in range(6)]
    await _until_sent(server, 1)
    for _ in range(5):
        await asyncio.sleep(0)
    assert [len(g) for g in server.groups] == [6]
    assert server.most_at_once == 1
    await server.answer()
    await asyncio.gather(*calls)


async def test_an_append_the_server_undid_in_a_deadlock_is_a_conflict_to_decide_again() -> None:
    server = _Server()
    group = GroupCommitter(server.run)
    calls = [asyncio.create_task(group.append(d, [d])) for d in ("deadlocked", "fine")]
    await _until_sent(server, 1)
    await _settle(server, calls)
    assert isinstance(calls[0].exception(), ConcurrencyError)
    assert calls[1].exception() is None
