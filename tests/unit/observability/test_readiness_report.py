"""Readiness: its JSON, what makes a part fail, how long an answer is kept, and that nothing a
server said (hosts, ports, passwords) reaches the report."""

from __future__ import annotations

import asyncio
import json

from observability.health import Lag, Probe, Readiness, Recent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def fine() -> None:
    return None


async def refused() -> None:
    raise ConnectionError("Error 111 connecting to 10.1.2.3:6380 (password=hunter2)")


async def hangs() -> None:
    await asyncio.sleep(10)


def lag(events: int, seconds: float | None = None) -> Probe:
    async def run() -> Lag:
        return Lag(events=events, seconds=seconds)

    return Probe("relay_lag", run, 100)


async def test_everything_up_is_ready_with_a_check_per_part() -> None:
    readiness = Readiness([Probe("postgresql", fine), Probe("redis", fine), lag(3, 0.42)])
    report = await readiness.report()
    assert report.ready and report.failing == []
    body = report.as_dict()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"postgresql", "redis", "relay_lag"}
    assert body["checks"]["redis"]["ok"] is True
    assert isinstance(body["checks"]["redis"]["ms"], float)
    assert body["checks"]["relay_lag"] == {
        "ok": True,
        "ms": body["checks"]["relay_lag"]["ms"],
        "events": 3,
        "seconds": 0.4,
        "max": 100,
    }


async def test_a_failing_part_is_named_and_its_words_are_not_repeated() -> None:
    readiness = Readiness([Probe("postgresql", fine), Probe("redis", refused)])
    report = await readiness.report()
    assert not report.ready
    assert report.failing == ["redis"]
    text = json.dumps(report.as_dict())
    assert report.as_dict()["status"] == "unready"
    assert report.as_dict()["checks"]["redis"] == {
        "ok": False,
        "ms": report.as_dict()["checks"]["redis"]["ms"],
        "error": "unavailable",
    }
    for secret in ("10.1.2.3", "6380", "hunter2", "password"):
        assert secret not in text


async def test_a_part_that_does_not_answer_in_time_fails_within_the_timeout() -> None:
    readiness = Readiness([Probe("kafka", hangs), Probe("redis", fine)], timeout_s=0.1)
    started = asyncio.get_running_loop().time()
    report = await readiness.report()
    assert asyncio.get_running_loop().time() - started < 0.5  # concurrently, bounded
    assert report.failing == ["kafka"]
    assert report.checks["kafka"].error == "timeout"


async def test_a_lag_over_its_bound_fails_and_a_bound_of_zero_never_does() -> None:
    over = await Readiness([lag(101)]).report()
    assert over.failing == ["relay_lag"]
    assert over.as_dict()["checks"]["relay_lag"]["error"] == "over bound"
    assert over.as_dict()["checks"]["relay_lag"]["events"] == 101
    at = await Readiness([lag(100)]).report()
    assert at.ready

    async def huge() -> Lag:
        return Lag(events=10**9)

    assert (await Readiness([Probe("consumer_lag", huge, 0)]).report()).ready


async def test_an_answer_is_kept_briefly_and_shared_by_callers_meanwhile() -> None:
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)

    clock = Clock()
    readiness = Readiness([Probe("postgresql", counted)], cache_s=1.5, clock=clock)
    await asyncio.gather(*(readiness.report() for _ in range(20)))
    assert calls == 1  # twenty probes at once: one question to the server
    clock.now += 1.0
    await readiness.report()
    assert calls == 1
    clock.now += 1.0
    await readiness.report()
    assert calls == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others_answer() -> None:
    async def slow() -> int:
        await asyncio.sleep(0.05)
        return 7

    recent: Recent[int] = Recent(slow, 10.0)
    first = asyncio.create_task(recent.get())
    second = asyncio.create_task(recent.get())
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == 7
    assert recent.last == 7


class Slow:
    """A lag that answers, then (`slow = True`) takes longer than the timeout."""

    def __init__(self) -> None:
        self.slow = False

    async def __call__(self) -> Lag:
        if self.slow:
            await asyncio.sleep(10)
        return Lag(events=7, seconds=1.25)


async def test_a_lag_that_times_out_stands_on_its_last_measurement_for_its_grace() -> None:
    clock, run = Clock(), Slow()
    probe = Probe("consumer_lag", run, 100, grace_s=15)
    readiness = Readiness([probe], timeout_s=0.05, cache_s=0, clock=clock)
    assert (await readiness.report()).ready
    run.slow = True
    clock.now += 10
    report = await readiness.report()
    assert report.ready  # a slow question, not a reader behind
    body = report.as_dict()["checks"]["consumer_lag"]
    assert body["events"] == 7 and body["seconds"] == 1.2 and body["measured_s_ago"] == 10.0
    clock.now += 6  # 16 s since the last answer: past its grace
    report = await readiness.report()
    assert report.failing == ["consumer_lag"]
    assert report.checks["consumer_lag"].error == "timeout"
    run.slow = False
    assert (await readiness.report()).ready  # measured again
    assert "measured_s_ago" not in (await readiness.report()).as_dict()["checks"]["consumer_lag"]


async def test_without_a_grace_or_an_earlier_answer_a_timeout_fails_at_once() -> None:
    clock, run = Clock(), Slow()
    run.slow = True
    first = Readiness([Probe("relay_lag", run, 100, grace_s=15)], timeout_s=0.05, clock=clock)
    assert (await first.report()).failing == ["relay_lag"]  # nothing measured yet
    run.slow = False
    strict = Readiness([Probe("relay_lag", run, 100)], timeout_s=0.05, cache_s=0, clock=clock)
    assert (await strict.report()).ready
    run.slow = True
    assert (await strict.report()).failing == ["relay_lag"]


async def test_a_lag_over_its_bound_is_not_kept_for_the_grace() -> None:
    clock, answers = Clock(), [3, 7]

    async def run() -> Lag:
        if not answers:
            await asyncio.sleep(10)
        return Lag(events=answers.pop(0))

    readiness = Readiness(
        [Probe("consumer_lag", run, 5, grace_s=15)], timeout_s=0.05, cache_s=0, clock=clock
    )
    assert (await readiness.report()).ready  # 3 <= 5
    assert (await readiness.report()).failing == ["consumer_lag"]  # 7 > 5
    # It times out now: the answer before the failure (3) does not stand for it.
    assert (await readiness.report()).checks["consumer_lag"].error == "timeout"
