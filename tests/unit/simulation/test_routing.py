"""Routing between parallel queues: the same people whatever the policy, each in exactly one
queue, never a closed one, and `best` (the estimators' wait if you join now) beats random."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from domain.commands import EnqueueTicket, OpenQueue
from domain.events import (
    QueueEvent,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketServed,
)
from simulation.offline import decide_locally
from simulation.routing import Lane, Routed, choose, compare, lanes, play, split
from simulation.scenario import load
from simulation.world import TimedCommand, commands
from vq.cli import main

DAYS = 2
SEED = 3


@pytest.fixture(scope="module")
def runs() -> dict[str, Routed]:
    clinic = load("clinic")
    return {p: play(clinic, p, queues=3, days=DAYS, seed=SEED) for p in ("random", "best")}


def _events(run: Routed) -> list[tuple[str, QueueEvent]]:
    return [(lane.name, e) for lane in run.lanes for e in lane.events]


def _joined(run: Routed) -> list[tuple[str, datetime, str, str | None]]:
    """Who joined, when, in which class and for what, in order of arrival (any queue)."""
    found = [
        (e.ticket_id, e.at, e.priority, e.service_type)
        for _, e in _events(run)
        if isinstance(e, TicketEnqueued)
    ]
    return sorted(found, key=lambda j: (j[1], j[0]))


def test_the_counters_are_dealt_round_robin_at_most_one_a_queue() -> None:
    clinic, bank = load("clinic"), load("bank_branch")
    assert [s.queue_config.counters for s in split(clinic, 3)] == [("1",), ("2",), ("3",)]
    assert [s.queue_config.counters for s in split(bank, 3)] == [("1", "4"), ("2", "5"), ("3",)]
    assert len(split(clinic, 10)) == 3
    parts = split(bank, 2)
    assert [c.name for c in parts[1].counters] == ["2", "4"]  # with their own shifts
    assert parts[1].counters[0].shifts == bank.counters[1].shifts
    assert len({s.queue_config.name for s in parts}) == 2
    assert all(s.queue_config.target_wait_seconds == 900 for s in parts)


def test_the_people_are_the_scenarios_own_whatever_the_policy(runs: dict[str, Routed]) -> None:
    single = asyncio.run(decide_locally(commands(load("clinic"), days=DAYS, seed=SEED)))
    alone = sorted(
        (
            (e.ticket_id, e.at, e.priority, e.service_type)
            for e in single
            if isinstance(e, TicketEnqueued)
        ),
        key=lambda j: (j[1], j[0]),
    )
    assert len(alone) > 200
    assert _joined(runs["random"]) == _joined(runs["best"]) == alone
    assert list(runs["random"].routed) == list(runs["best"].routed) == [j[0] for j in alone]
    # ... but not to the same queues (else the comparison would say nothing)
    assert runs["random"].routed != runs["best"].routed


def test_every_newcomer_joins_exactly_one_queue_and_leaves_it(runs: dict[str, Routed]) -> None:
    for run in runs.values():
        where: dict[str, list[str]] = {}
        last: dict[str, QueueEvent] = {}
        for name, event in _events(run):
            ticket = getattr(event, "ticket_id", None)
            if isinstance(event, TicketEnqueued):
                where.setdefault(event.ticket_id, []).append(name)
            if ticket is not None:
                last[ticket] = event
        assert where == {t: [q] for t, q in run.routed.items()}
        ends = {type(last[t]) for t in run.routed}
        assert ends <= {TicketServed, TicketCancelled, TicketNoShow}
        assert TicketServed in ends


def test_a_person_behaves_alike_in_whichever_queue(runs: dict[str, Routed]) -> None:
    """Served in both runs after a first call they answered: the same walk up, the same service
    (drawn from the person, not from the order things happened in)."""

    def timings(run: Routed) -> dict[str, tuple[float, float]]:
        called: dict[str, datetime] = {}
        started: dict[str, datetime] = {}
        found: dict[str, tuple[float, float]] = {}
        for _, e in _events(run):
            if isinstance(e, TicketCalled):
                called.setdefault(e.ticket_id, e.at)
            elif isinstance(e, ServiceStarted):
                started[e.ticket_id] = e.at
            elif isinstance(e, TicketServed) and e.ticket_id in started:
                walk = (started[e.ticket_id] - called[e.ticket_id]).total_seconds()
                service = (e.at - started[e.ticket_id]).total_seconds()
                found[e.ticket_id] = (round(walk, 3), round(service, 3))
        return found

    a, b = timings(runs["random"]), timings(runs["best"])
    both = set(a) & set(b)
    assert len(both) > 150
    alike = sum(1 for t in both if a[t] == b[t])
    assert alike >= 0.95 * len(both)  # the others were away at their first call in one run


def _opened(among: list[Lane], count: int) -> TimedCommand:
    """Create every queue, open the first `count` and give each open one three people; the
    moment after."""
    for lane in among:
        lane.start()
        assert lane.pending is not None
        asyncio.run(lane.execute(lane.pending))
    assert among[0].pending is not None
    at = among[0].pending.at + timedelta(minutes=5)
    for i, lane in enumerate(among[:count]):
        asyncio.run(lane.execute(TimedCommand(at, OpenQueue())))
        for n in range(3):
            enqueue = EnqueueTicket(ticket_id=f"t-{i}-{n}", priority=None, service_type=None)
            asyncio.run(lane.execute(TimedCommand(at, enqueue)))
    return TimedCommand(at + timedelta(minutes=1), OpenQueue())


def test_no_policy_sends_anybody_to_a_closed_queue() -> None:
    among = lanes(load("clinic"), queues=3, days=1, seed=1)
    later = _opened(among, 2)
    closed = among[2]
    assert closed.state.status == "closed" and not closed.state.waiting
    rng = random.Random(1)
    for policy in ("random", "shortest", "best"):
        picks = {
            getattr(choose(policy, among, None, later.at, rng), "name", None) for _ in range(30)
        }
        assert picks and closed.name not in picks and None not in picks
    # Open, its empty line is the best and the shortest: only its being closed kept it out.
    asyncio.run(closed.execute(TimedCommand(later.at, OpenQueue())))
    assert choose("best", among, None, later.at, rng) is closed
    assert choose("shortest", among, None, later.at, rng) is closed


def test_nobody_is_sent_anywhere_when_every_queue_is_closed() -> None:
    among = lanes(load("clinic"), queues=3, days=1, seed=1)
    later = _opened(among, 0)
    assert choose("best", among, None, later.at, random.Random(1)) is None
    with pytest.raises(ValueError, match="no routing policy"):
        choose("fastest", among, None, later.at, random.Random(1))


def test_best_lowers_the_mean_wait_against_random_on_a_busy_day() -> None:
    result = compare(load("clinic"), seed=1, days=2, warmup_days=1)
    by = {r.policy: r for r in result.runs}
    assert by["best"].figures.joined == by["random"].figures.joined > 100
    best, rand = by["best"].figures.mean_wait, by["random"].figures.mean_wait
    assert best is not None and rand is not None and best < 0.8 * rand
    assert result.best_wins() and (result.gain("mean_wait") or 0.0) < -0.2


def _one_desk(tmp_path: Path) -> Path:
    """The clinic with its first desk only: one queue, nothing to route."""
    text = resources.files("simulation.scenarios").joinpath("clinic.toml").read_text("utf-8")
    head, first, _, third = text.split("[[counters]]")
    path = tmp_path / "one_desk.toml"
    path.write_text(f"{head}[[counters]]{first}{third[third.index('[behaviour]') :]}")
    return path


def test_the_cli_prints_json_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--routing", "--scenario", "clinic", "--seed", "1", "--days", "2"]
    assert main([*args, "--warmup-days", "1", "--json", "--check"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(r["scenario"], r["seed"], r["days"], r["warmup_days"]) for r in found] == [
        ("clinic", 1, 2, 1)
    ]
    run = found[0]
    assert [q["counters"] for q in run["queues"]] == [["1"], ["2"], ["3"]]
    assert set(run["policies"]) == {"random", "shortest", "best"}
    for figures in run["policies"].values():
        assert set(figures) >= {"joined", "served", "gave_up", "mean_wait", "p90_wait"}
        assert sum(figures["joined_by_queue"].values()) == figures["joined"]
    assert run["gain_best_vs_random"]["mean_wait"] < 0 and run["best_wins"] is True
    # One desk: every policy sends everybody to the same queue, so best gains nothing.
    one = ["simulate", "--routing", "--scenario", str(_one_desk(tmp_path)), "--days", "1"]
    assert main([*one, "--warmup-days", "0", "--check"]) == 1
    out = capsys.readouterr().out
    assert "1 queues" in out and "mean wait +0.0 %" in out
    assert main([*args, "--queues", "1"]) == 2
    assert main(["simulate", "--routing", "--scenario", "nowhere"]) == 2
