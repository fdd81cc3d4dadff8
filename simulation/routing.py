"""Routing: one stream of people, several parallel queues, and which queue each newcomer joins.

The setting. Many services keep a line per counter or per group of counters: a doctor's own
waiting list in a clinic, the desks of a branch split by floor, the windows of a post office
each with its own line. So the scenario's counters are dealt round-robin into K queues (default
3; no more queues than counters): each queue is a copy of the scenario's queue (its classes, target
wait, grace) with its share of the counters, and those counters keep their own shifts, breaks
and days off. The queues are then not alike at every hour (the clinic's desk 3 starts at nine
and does not work on Fridays; lunches are staggered), which is what makes the choice matter.

The people are the scenario's own: its arrival rates, classes, services and patience, drawn from
the seed exactly as a single-queue run of the scenario draws them (`simulation.world`), as ONE
stream. On arrival a policy sends each person to one queue that is not closed:

* `random`: uniformly at random (a generator of its own, so nothing else moves);
* `shortest`: the fewest people waiting (the naive baseline: it ignores who is being served and
  for how long, and which counters are working);
* `best`: the lowest P50 of the wait the queue's own estimators give somebody joining it now in
  the newcomer's class (`Selector.newcomer`: the range the read side's `QueueEstimates.newcomer`
  serves as "wait if you join now", asked here at the very moment of the arrival rather than
  kept for a few seconds); ties: the fewest waiting, then the queue's name.

Each queue runs on the write side's own `QueueService` (`LocalQueue`: decide, fold, append), and
its events are folded into a `QueueState` and a `Selector` as the stream processors fold them.
The queues' commands are played in one time order, so a choice sees every queue as it stands at
that moment.

Pairing. Every person arrives in the world of every queue (the same draws, hence the same people
whatever the policy) and joins the one they are routed to. What a person does once in line (give
up or cancel, be away when called, walk up, come back) is drawn from that person's own generator,
so it does not depend on the queue they joined or on who came before them; only the counters'
call delays (seconds) are drawn in the order things happen.

The first days warm the estimators up, routed by the same policy (as the queues of a service run
that way would have been); the figures are of the days after.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.commands import EnqueueTicket, QueueCommand
from domain.estimation.selector import Selector
from domain.events import QueueEvent, TicketCalled
from domain.evolve import evolve
from domain.state import QueueState, initial_state
from simulation.offline import LocalQueue
from simulation.recorded import Visit, learn
from simulation.replay import counter_hours
from simulation.scenario import Scenario, day_plans
from simulation.whatif import DayFigures, figures
from simulation.world import CommandStream, Feedback, TimedCommand, World

POLICIES = ("random", "shortest", "best")
DEFAULT_QUEUES = 3
# Five days teach the estimators each weekday's rota once (as the what-if's history does); the
# three after them (Monday to Wednesday of the second week) are scored.
DEFAULT_DAYS = 8
DEFAULT_WARMUP = 5


def split(scenario: Scenario, queues: int) -> list[Scenario]:
    """The scenario as `queues` parallel queues (at most one a counter): its counters dealt
    round-robin, each queue a copy of the scenario's queue with its share of them."""
    k = max(1, min(queues, len(scenario.counters)))
    parts: list[Scenario] = []
    for i in range(k):
        counters = scenario.counters[i::k]
        config = replace(
            scenario.queue_config,
            name=f"{scenario.queue_config.name} {i + 1}",
            counters=tuple(c.name for c in counters),
        )
        parts.append(replace(scenario, counters=counters, queue_config=config))
    return parts


class LaneWorld(World):
    """The world of one of the parallel queues. Every person of the scenario arrives in it, so
    its commands hold every arrival (the router lets the queue take only those sent to it);
    whatever a person does is drawn from that person's own generator (see the module)."""

    def __init__(self, scenario: Scenario, *, days: int, seed: int, queue_id: str) -> None:
        super().__init__(
            scenario, days=days, seed=seed, queue_id=queue_id, tenant_id="routing", id_prefix=""
        )
        self.seed = seed
        self.personal: dict[str, random.Random] = {}

    def _own(self, ticket_id: str) -> None:
        """The world draws about people from `rng_people`: point it at this person's own."""
        rng = self.personal.get(ticket_id)
        if rng is None:
            rng = self.personal[ticket_id] = random.Random(f"{self.seed}:person:{ticket_id}")
        self.rng_people = rng

    def _give_up(self, t: float, subject: str) -> QueueCommand | None:
        self._own(subject)
        return super()._give_up(t, subject)

    def _called(self, t: float, event: TicketCalled) -> None:
        self._own(event.ticket_id)
        super()._called(t, event)

    def _freed(self, t: float, counter_name: str) -> None:
        serving = self.counters[counter_name].serving
        if serving is not None:
            self._own(serving)
        super()._freed(t, counter_name)


@dataclass(slots=True)
class Lane:
    """One of the parallel queues: its world, its queue on the write side, and the state and
    estimators its events fold into."""

    name: str
    stream: CommandStream
    queue: LocalQueue = field(default_factory=LocalQueue)
    state: QueueState = field(default_factory=lambda: initial_state(""))
    selector: Selector = field(default_factory=Selector.default)
    events: list[QueueEvent] = field(default_factory=list)
    pending: TimedCommand | None = None  # the world's next command, not yet run

    def start(self) -> None:
        self.pending = next(self.stream)

    def advance(self, feedback: Feedback) -> None:
        """Tell the world what its pending command produced; its next command is pending."""
        try:
            self.pending = self.stream.send(feedback)
        except StopIteration:
            self.pending = None

    async def execute(self, timed: TimedCommand) -> list[QueueEvent]:
        """Run `timed` on the queue; its events fold into the state and the estimators."""
        produced = await self.queue.run(timed)
        for event in produced:
            evolve(self.state, event)
            self.selector.observe(self.state, event)
        self.events.extend(produced)
        return produced


def lanes(scenario: Scenario, *, queues: int, days: int, seed: int) -> list[Lane]:
    """The parallel queues of `scenario`, their worlds ready to play `days` days."""
    found: list[Lane] = []
    for n, part in enumerate(split(scenario, queues), 1):
        world = LaneWorld(part, days=days, seed=seed, queue_id=f"route-{scenario.name}-{n}")
        found.append(Lane(part.queue_config.name, world.run()))
    return found


def expected_wait(lane: Lane, priority: str | None, at: datetime) -> float:
    """The P50 wait the lane's estimators give somebody joining it at `at` in `priority`
    (None: the queue's default class)."""
    estimate = lane.selector.newcomer(lane.state, priority, at)
    return math.inf if estimate is None else estimate.p50


def choose(
    policy: str,
    among: Sequence[Lane],
    priority: str | None,
    at: datetime,
    rng: random.Random,
) -> Lane | None:
    """The queue `policy` sends somebody arriving at `at` in `priority` to; None when every
    queue is closed."""
    if policy not in POLICIES:
        raise ValueError(f"no routing policy {policy!r}; policies are {', '.join(POLICIES)}")
    candidates = [lane for lane in among if lane.state.status != "closed"]
    if not candidates:
        return None
    if policy == "random":
        return rng.choice(candidates)
    if policy == "shortest":
        return min(candidates, key=lambda lane: (len(lane.state.waiting), lane.name))
    return min(
        candidates,
        key=lambda lane: (expected_wait(lane, priority, at), len(lane.state.waiting), lane.name),
    )


def _order(lane: Lane) -> tuple[datetime, bool]:
    """Which lane's pending command runs first: the earliest; at one moment, arrivals last.
    Every world holds every arrival, at the same (strictly increasing) times, so when an
    arrival comes first every lane has that same arrival pending."""
    assert lane.pending is not None
    return lane.pending.at, isinstance(lane.pending.command, EnqueueTicket)


async def _play(among: Sequence[Lane], policy: str, rng: random.Random) -> dict[str, str]:
    """Play the lanes' worlds in one time order, each arrival routed by `policy`.
    Returns the queue each newcomer was sent to, by ticket, in order of arrival."""
    routed: dict[str, str] = {}
    for lane in among:
        lane.start()
    while live := [lane for lane in among if lane.pending is not None]:
        first = min(live, key=_order)
        timed = first.pending
        assert timed is not None
        if not isinstance(timed.command, EnqueueTicket):
            first.advance(await first.execute(timed))
            continue
        chosen = choose(policy, live, timed.command.priority, timed.at, rng)
        for lane in live:  # the others refuse it: nothing happens in their worlds
            lane.advance(await lane.execute(timed) if lane is chosen else [])
        if chosen is not None:
            routed[timed.command.ticket_id] = chosen.name
    return routed


@dataclass(slots=True)
class Routed:
    """One policy's run: the lanes as they ended, and where each newcomer was sent."""

    policy: str
    lanes: list[Lane]
    routed: dict[str, str]


def play(scenario: Scenario, policy: str, *, queues: int, days: int, seed: int) -> Routed:
    """`days` days of `scenario` as `queues` parallel queues, every newcomer routed by `policy`."""
    among = lanes(scenario, queues=queues, days=days, seed=seed)
    rng = random.Random(f"{seed}:routing")
    return Routed(policy, among, asyncio.run(_play(among, policy, rng)))


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """A policy's figures on the scored days, all its queues together."""

    policy: str
    figures: DayFigures
    joined_by_queue: tuple[tuple[str, int], ...]

    @property
    def gave_up(self) -> int:
        """Those who cancelled, or were not there when called and did not come back (most of
        them left the line without a word)."""
        return self.figures.cancelled + self.figures.no_shows


def score(run: Routed, scenario: Scenario, *, days: int, warmup_days: int) -> PolicyRun:
    """The figures of `run` on its days after the warm-up."""
    scored = day_plans(scenario, days)[warmup_days:]
    visits: list[Visit] = []
    joined: list[tuple[str, int]] = []
    for lane in run.lanes:
        own = [v for plan in scored for v in learn(lane.events, plan.day).visits]
        visits.extend(own)
        joined.append((lane.name, len(own)))
    target = float(scenario.queue_config.target_wait_seconds)
    hours = sum(counter_hours(plan.shifts) for plan in scored)
    return PolicyRun(run.policy, figures(visits, {}, target, hours), tuple(joined))


@dataclass(frozen=True, slots=True)
class Comparison:
    """The policies on the same people of one scenario and seed."""

    scenario: str
    seed: int
    days: int
    warmup_days: int
    queues: tuple[tuple[str, tuple[str, ...]], ...]  # name, counters
    runs: tuple[PolicyRun, ...]
    seconds: float

    def run(self, policy: str) -> PolicyRun | None:
        return next((r for r in self.runs if r.policy == policy), None)

    def gain(self, name: str, policy: str = "best", base: str = "random") -> float | None:
        """`policy`'s figure `name` (mean_wait, p90_wait) relative to `base`'s: -0.2 is 20 %
        lower."""
        mine, theirs = self.run(policy), self.run(base)
        if mine is None or theirs is None:
            return None
        a, b = getattr(mine.figures, name), getattr(theirs.figures, name)
        return None if a is None or not b else a / b - 1.0

    def best_wins(self) -> bool:
        """`best` lowers the mean wait against `random`."""
        gain = self.gain("mean_wait")
        return gain is not None and gain < 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "days": self.days,
            "warmup_days": self.warmup_days,
            "queues": [{"name": n, "counters": list(c)} for n, c in self.queues],
            "policies": {
                r.policy: {
                    "joined": r.figures.joined,
                    "served": r.figures.served,
                    "gave_up": r.gave_up,
                    "mean_wait": r.figures.mean_wait,
                    "p90_wait": r.figures.p90_wait,
                    "within_target": r.figures.within_target,
                    "joined_by_queue": dict(r.joined_by_queue),
                }
                for r in self.runs
            },
            "gain_best_vs_random": {
                "mean_wait": self.gain("mean_wait"),
                "p90_wait": self.gain("p90_wait"),
            },
            "best_wins": self.best_wins(),
            "seconds": round(self.seconds, 2),
        }


def compare(
    scenario: Scenario,
    *,
    seed: int,
    queues: int = DEFAULT_QUEUES,
    days: int = DEFAULT_DAYS,
    warmup_days: int = DEFAULT_WARMUP,
    policies: Sequence[str] = POLICIES,
) -> Comparison:
    """Each policy on the same `days` of `scenario` (seed `seed`), scored after the warm-up."""
    started = time.perf_counter()
    runs = [
        score(
            play(scenario, policy, queues=queues, days=days, seed=seed),
            scenario,
            days=days,
            warmup_days=warmup_days,
        )
        for policy in policies
    ]
    shape = tuple((p.queue_config.name, p.queue_config.counters) for p in split(scenario, queues))
    return Comparison(
        scenario=scenario.name,
        seed=seed,
        days=days,
        warmup_days=warmup_days,
        queues=shape,
        runs=tuple(runs),
        seconds=time.perf_counter() - started,
    )
