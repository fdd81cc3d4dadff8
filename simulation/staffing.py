"""A staffing plan for a coming day: the fewest counters per quarter hour that keep the day's
P90 wait under the queue's target in a stated share of days, checked by simulation.

The plan rests on the queue's history only (its events, learned day by day as
`simulation.recorded` learns them): arrivals per quarter hour on the same weekday (their mean,
and how much a day's total varies), service times per service type (a log-normal fitted to
each), the share of no-shows and returns, the counters' call delays and walks. Nobody gives up in
the model: a plan must not count on people leaving the line. From those it builds a
scenario of the simulator and plays it: each run is a day with fresh randomness and a day-level
arrival factor drawn from the history's spread. The search starts from the offered load (arrivals
times the time a call takes), adds a counter where people wait longest until enough runs keep the
P90 under target, then takes back counters where waits are shortest while they still do.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from domain.estimation.stats import quantile
from simulation.offline import decide_locally
from simulation.recorded import RecordedDay, learn
from simulation.replay import SLOT_S
from simulation.scenario import Behaviour, CounterPlan, Scenario, ServiceType
from simulation.world import World

SEARCH_RUNS = 20  # runs per candidate plan while searching (the same seeds for every candidate)
# The search aims this much above the stated share (a check of 20 days is itself +/-9 points).
MARGIN = 0.15
CHECK_RUNS = 20  # fresh runs that check the plan found
MAX_STEPS = 60
MIN_SHIFT_SLOTS = 4  # a counter the plan opens stays open an hour at least (no 15-minute shifts)
PRUNE_TRIES = 16
SEARCH_SEED = 10_000  # the search's seeds, then its validation's; the check's start at 1
VALIDATION_SEED = 20_000
NEVER = 1e9  # patience of the model's people (seconds): nobody gives up
VALIDATION_FACTOR = 3  # the validation plays three times as many days as the search


# progress(phase, done, total): what a long plan has done so far (total None: not known yet).
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class Forecast:
    day: date
    opens: float  # seconds since local midnight
    closes: float
    slots: tuple[float, ...]  # quarter-hour starts from opening to closing
    arrivals: tuple[float, ...]  # mean arrivals per slot on the same weekday
    spread: float  # coefficient of variation of a day's total (and of its level's estimate)
    days: int  # history days it rests on


def alike(days: Sequence[RecordedDay], day: date) -> list[RecordedDay]:
    """The history days of `day`'s weekday (all of them if there are none)."""
    return [d for d in days if d.day.weekday() == day.weekday()] or list(days)


def forecast(days: Sequence[RecordedDay], day: date) -> Forecast:
    """Arrivals per quarter hour on `day`: the shape of a day from every history day with the
    same opening hours (many days: little noise, and a peak stays a peak), scaled to the level of
    the days of `day`'s weekday (all days if the history has none of that weekday)."""
    same = alike(days, day)
    if not same:
        raise ValueError("no history to plan from")
    last = same[-1]
    first = SLOT_S * math.floor(last.opens / SLOT_S)
    slots = tuple(first + SLOT_S * k for k in range(math.ceil((last.closes - first) / SLOT_S)))

    def counts(past: RecordedDay) -> list[float]:
        found = [0.0] * len(slots)
        for v in past.visits:
            k = int((v.arrived - first) // SLOT_S)
            if 0 <= k < len(slots):
                found[k] += 1
        return found

    hours = [
        d
        for d in days
        if abs(d.opens - last.opens) < SLOT_S and abs(d.closes - last.closes) < SLOT_S
    ]
    shape = [statistics.fmean(c) for c in zip(*(counts(d) for d in hours or same), strict=True)]
    totals = [sum(counts(d)) for d in same]
    level = statistics.fmean(totals) / (sum(shape) or 1.0)
    mean_total = statistics.fmean(totals)
    # How much a day's total varies, widened by how unsure a level from that few days is.
    spread = statistics.pstdev(totals) / mean_total if len(totals) > 1 and mean_total else 0.1
    spread *= math.sqrt(1.0 + 1.0 / len(totals))
    arrivals = tuple(x * level for x in shape)
    return Forecast(day, last.opens, last.closes, slots, arrivals, spread, len(same))


def history(events: Sequence[object], days: Sequence[date]) -> list[RecordedDay]:
    found = []
    for d in days:
        try:
            found.append(learn(events, d))  # type: ignore[arg-type]
        except ValueError:
            continue
    return found


def _lognormal(values: Sequence[float]) -> tuple[float, float]:
    logs = [math.log(max(v, 0.1)) for v in values]
    sigma = statistics.pstdev(logs) if len(logs) > 1 else 0.5
    return math.exp(statistics.median(logs)), max(sigma, 0.05)


def model(days: Sequence[RecordedDay], fc: Forecast) -> Scenario:
    """The history as a scenario of the simulator, counters to be set by a plan."""
    last = days[-1]
    visits = [v for d in days for v in d.visits]
    services: dict[str, list[float]] = {}
    for v in visits:
        if v.service is not None:
            services.setdefault(v.service_type or "", []).append(v.service)
    if not services:
        raise ValueError("nobody has been served in this queue yet: a plan needs service times")
    types = []
    for name, values in sorted(services.items()):
        median, sigma = _lognormal(values)
        types.append(ServiceType(name, len(values), median, sigma))
    classes: dict[str, int] = {}
    for v in visits:
        classes[v.priority] = classes.get(v.priority, 0) + 1
    called = sum(1 for v in visits if v.called is not None) or 1
    no_shows = [v for v in visits if v.no_show]
    opens, closes = int(fc.opens // 60), math.ceil(fc.closes / 60)
    rate = []
    for start, count in zip(fc.slots, fc.arrivals, strict=True):
        minute = int(start // 60)
        rate += [(minute, count * 4.0), (minute + 14, count * 4.0)]
    return Scenario(
        name="staffing",
        description=f"the plan for {fc.day.isoformat()} from {fc.days} days of history",
        start=fc.day,
        timezone=last.config.timezone,
        weekdays=frozenset({fc.day.weekday()}),
        opens=opens,
        closes=closes,
        queue_config=last.config,
        rate_points=tuple(rate),
        weekday_factor=(1.0,) * 7,
        priorities=tuple(sorted(classes.items())),
        service_types=tuple(types),
        counters=(),
        behaviour=Behaviour(
            call_delay=last.call_delay,
            walk=last.walk,
            absent_probability=len(no_shows) / called,
            recall_after=last.recall_after,
            no_show_after=last.no_show_after,
            return_probability=sum(1 for v in no_shows if v.returned) / (len(no_shows) or 1),
            patience_scale=NEVER,  # a plan must not count on people giving up
            patience_shape=2.0,
            cancel_share=1.0,
        ),
    )


def staffed(scenario: Scenario, fc: Forecast, counts: Sequence[int]) -> Scenario:
    """`scenario` with counters working as `counts` says per slot (counter k where count >= k)."""
    plans = []
    for k in range(1, max(counts, default=0) + 1):
        shifts: list[tuple[int, int]] = []
        for start, count in zip(fc.slots, counts, strict=True):
            if count < k:
                continue
            a, b = int(start // 60), int((start + SLOT_S) // 60)
            if shifts and shifts[-1][1] == a:
                shifts[-1] = (shifts[-1][0], b)
            else:
                shifts.append((a, b))
        plans.append(CounterPlan(str(k), tuple(shifts), frozenset({fc.day.weekday()})))
    names = tuple(p.name for p in plans)
    config = replace(scenario.queue_config, counters=names)
    return replace(scenario, counters=tuple(plans), queue_config=config)


class _PlanWorld(World):
    def _arrivals(self, plan):  # type: ignore[no-untyped-def]
        people = super()._arrivals(plan)
        for person in people:  # a queue without service types: the scenario's "" type
            person.service_type = person.service_type or None
        return people


@dataclass(frozen=True, slots=True)
class DayRun:
    seed: int
    joined: int
    mean_wait: float | None
    p90_wait: float | None
    under: bool  # the day's P90 wait within the target, and everyone called
    slot_waits: tuple[float | None, ...]  # mean wait of those joining in each slot
    unserved: int = 0  # never called nor gone by the end of the day: no counter was left for them


def play(scenario: Scenario, fc: Forecast, seed: int, target: float, *, vary: bool) -> DayRun:
    """One simulated day of `scenario` on the forecast's date; `vary`: its arrivals scaled by a
    day-level factor drawn from the history's spread (a busy or a quiet day of that weekday)."""
    if vary:
        factor = max(0.2, random.Random(f"{seed}:day").gauss(1.0, fc.spread))
        weekday = fc.day.weekday()
        factors = tuple(
            factor * f if d == weekday else f for d, f in enumerate(scenario.weekday_factor)
        )
        scenario = replace(scenario, weekday_factor=factors)
    scenario = replace(scenario, start=fc.day)
    world = _PlanWorld(
        scenario, days=1, seed=seed, queue_id="staffing", tenant_id="staffing", id_prefix=""
    )
    day = learn(asyncio.run(decide_locally(world.run())), fc.day)
    waits = [w for v in day.visits if (w := v.wait) is not None]
    per_slot: list[float | None] = []
    for start in fc.slots:
        found = [
            w
            for v in day.visits
            if start <= v.arrived < start + SLOT_S and (w := v.wait) is not None
        ]
        per_slot.append(statistics.fmean(found) if found else None)
    p90 = quantile(sorted(waits), 0.9) if waits else None
    # Still waiting when the day ended: never called, and never left (those who cancel or walk
    # away, on the scenario's own days, were not left behind by the plan).
    unserved = sum(1 for v in day.visits if v.called is None and v.cancelled is None)
    return DayRun(
        seed=seed,
        joined=len(day.visits),
        mean_wait=statistics.fmean(waits) if waits else None,
        p90_wait=p90,
        # A plan that leaves somebody waiting for good fails, whatever the others waited.
        under=unserved == 0 and (p90 is None or p90 <= target),
        slot_waits=tuple(per_slot),
        unserved=unserved,
    )


def share(runs: Sequence[DayRun]) -> float:
    """The share of `runs` whose P90 wait was within target (0 for none)."""
    return sum(1 for r in runs if r.under) / len(runs) if runs else 0.0


def _call_cost(scenario: Scenario) -> float:
    """Seconds a counter spends per person: the mean service, the call delay and the walk."""
    total = sum(t.share for t in scenario.service_types) or 1.0
    service = sum(
        t.share / total * t.median_seconds * math.exp(t.sigma**2 / 2)
        for t in scenario.service_types
    )
    b = scenario.behaviour
    return service + sum(b.call_delay) / 2 + sum(b.walk) / 2


def search(
    scenario: Scenario,
    fc: Forecast,
    target: float,
    confidence: float,
    runs: int = SEARCH_RUNS,
    played: Callable[[], None] = lambda: None,
) -> tuple[list[int], float]:
    """The fewest counters per slot (found greedily) with which at least `confidence` (and a
    margin) of `runs` simulated days keep their P90 wait within `target`; and that share.

    Greedy on one set of days overfits them (a plan made to pass exactly those days), and a
    day's P90 varies a lot from day to day, so the plan found is then played on three times as
    many other days and gets counters added where people wait longest until it passes those
    too. `played` is called after each simulated day (progress)."""
    aim = min(1.0, confidence + MARGIN)

    def judge(counts: Sequence[int], first: int, many: int = runs) -> list[DayRun]:
        planned = staffed(scenario, fc, counts)
        found = []
        for seed in range(first, first + many):
            found.append(play(planned, fc, seed, target, vary=True))
            played()
        return found

    def grow(counts: list[int], first: int, many: int = runs) -> list[DayRun]:
        outcome = judge(counts, first, many)
        for _ in range(MAX_STEPS):
            if share(outcome) >= aim:
                break
            waits = _slot_means(outcome, len(counts))
            counts[max(range(len(counts)), key=lambda k: waits[k])] += 1
            outcome = judge(counts, first, many)
        return outcome

    cost = _call_cost(scenario)
    counts = [max(1, math.ceil(a * cost / SLOT_S)) for a in fc.arrivals]
    outcome = grow(counts, SEARCH_SEED)
    if share(outcome) >= aim:
        waits = _slot_means(outcome, len(counts))
        for k in sorted(range(len(counts)), key=lambda k: waits[k])[:PRUNE_TRIES]:
            if counts[k] <= 1:
                continue
            counts[k] -= 1
            if share(judge(counts, SEARCH_SEED)) < aim:
                counts[k] += 1
    return counts, share(grow(counts, VALIDATION_SEED, VALIDATION_FACTOR * runs))


def steady(counts: Sequence[int], slots: int = MIN_SHIFT_SLOTS) -> list[int]:
    """The plan with every counter it opens kept open `slots` quarter hours at least, and no
    dip shorter than that between two stretches: each slot gets the most of the slots up to
    `slots` - 1 before it. Only adds counters, so a plan that kept the target keeps it."""
    if slots <= 1:
        return list(counts)
    return [max(counts[max(0, k - slots + 1) : k + 1]) for k in range(len(counts))]


def _slot_means(runs: Sequence[DayRun], slots: int) -> list[float]:
    means = []
    for k in range(slots):
        found = [w for r in runs if (w := r.slot_waits[k]) is not None]
        means.append(statistics.fmean(found) if found else 0.0)
    return means


@dataclass(frozen=True, slots=True)
class StaffingPlan:
    forecast: Forecast
    counts: tuple[int, ...]
    target: float
    confidence: float
    searched: float  # share of the search's runs within target
    checked: tuple[DayRun, ...]  # fresh runs of the model with the plan
    truth: tuple[DayRun, ...] = ()  # fresh runs of the true scenario (a scenario's plan only)

    def counter_hours(self) -> float:
        return sum(self.counts) * SLOT_S / 3600.0


def plan(
    days: Sequence[RecordedDay],
    day: date,
    *,
    confidence: float,
    counts: Sequence[int] | None = None,
    truth: Scenario | None = None,
    check_runs: int = CHECK_RUNS,
    search_runs: int = SEARCH_RUNS,
    progress: Progress | None = None,
    min_shift_slots: int = MIN_SHIFT_SLOTS,
) -> StaffingPlan:
    """The plan for `day` from the history `days` (or `counts`, a plan to check as it is),
    checked on `check_runs` fresh simulated days (and on the true scenario, if known).
    `progress(phase, done, total)`: "search" with the days played so far (total unknown: the
    search stops when a plan passes), then "check" with i of `check_runs`. A plan made (not one
    given) keeps each counter open `min_shift_slots` quarter hours at least (`steady`)."""
    tell: Progress = progress or (lambda phase, done, total: None)
    searched_days = 0

    def played() -> None:
        nonlocal searched_days
        searched_days += 1
        tell("search", searched_days, None)

    fc = forecast(days, day)
    scenario = model(days, fc)
    target = float(days[-1].config.target_wait_seconds)
    if counts is None:
        found, searched = search(scenario, fc, target, confidence, search_runs, played)
        found = steady(found, min_shift_slots)
    else:
        if len(counts) != len(fc.slots):
            raise ValueError(f"the plan has {len(counts)} slots, the day {len(fc.slots)}")
        if max(counts, default=0) <= 0:
            raise ValueError("the plan opens no counter all day")
        found, searched = list(counts), math.nan
    planned = staffed(scenario, fc, found)
    runs = []
    for seed in range(1, check_runs + 1):
        runs.append(play(planned, fc, seed, target, vary=True))
        tell("check", seed, check_runs)
    checked = tuple(runs)
    real: tuple[DayRun, ...] = ()
    if truth is not None:
        actual = staffed(replace(truth, queue_config=planned.queue_config), fc, found)
        actual = replace(actual, service_types=truth.service_types)
        real = tuple(play(actual, fc, s, target, vary=False) for s in range(1, check_runs + 1))
    return StaffingPlan(fc, tuple(found), target, confidence, searched, checked, real)
