"""`vq simulate --what-if`: a queue's real day next to its replays, as staffed and as changed.

The real day's figures come from its events. Each replay plays the recorded day again
(`simulation.replay`) several times with fresh randomness for what the day cannot tell; its
figures are the median of the runs, with their range. The replay "as staffed" is the model's
check: it should land near the real day (the report says how near); a change is then read
against it, so the model's own error does not pass for a gain.

"Told, then waited over twice" needs the ranges people were given: the estimators fold the
queue's history before the day (as the live product had), then the day's events, real or
replayed, exactly as the stream processors fold them.
"""

from __future__ import annotations

import asyncio
import copy
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date

from domain.estimation.accuracy import over_twice
from domain.estimation.selector import SERVED, Selector
from domain.estimation.stats import quantile
from domain.events import QueueEvent, TicketEnqueued
from domain.evolve import evolve
from domain.state import QueueState, initial_state
from simulation.offline import decide_locally
from simulation.recorded import RecordedDay, Visit, learn
from simulation.replay import Plan, ReplayWorld, counter_hours, own_plan

RUNS = 10
MODEL_TOLERANCE = 0.10  # the replay as staffed within 10 % of the real mean and P90 wait


@dataclass(frozen=True, slots=True)
class DayFigures:
    joined: int
    called: int
    served: int
    cancelled: int
    no_shows: int
    mean_wait: float | None  # seconds, of those called
    p90_wait: float | None
    within_target: float | None  # share of those called within the queue's target wait
    over_twice: float | None  # share of those called who waited over twice the P50 they were told
    counter_hours: float
    finished: float | None  # seconds since midnight the last service ended
    # Mean wait by the class each person had on the real day (whatever class a policy replayed
    # them in: first come, first served puts everybody in one), for the classes with a call.
    class_waits: tuple[tuple[str, float], ...] = ()


def figures(
    visits: Sequence[Visit],
    told: dict[str, float],
    target: float,
    hours: float,
    classes: dict[str, str] | None = None,
) -> DayFigures:
    """The day's figures; `classes`: each ticket's class on the real day (default: its own)."""
    waits = [(v.ticket_id, w) for v in visits if (w := v.wait) is not None]
    of = classes or {v.ticket_id: v.priority for v in visits}
    by_class: dict[str, list[float]] = {}
    for ticket, wait in waits:
        by_class.setdefault(of.get(ticket, ""), []).append(wait)
    values = [w for _, w in waits]
    judged = [over_twice(w, told[t]) for t, w in waits if t in told]
    ends = [v.started + v.service for v in visits if v.started is not None and v.service]
    return DayFigures(
        joined=len(visits),
        called=len(waits),
        served=sum(1 for v in visits if v.service is not None),
        cancelled=sum(1 for v in visits if v.cancelled is not None),
        no_shows=sum(1 for v in visits if v.no_show and not v.returned),
        mean_wait=statistics.fmean(values) if values else None,
        p90_wait=quantile(sorted(values), 0.9) if values else None,
        within_target=sum(1 for w in values if w <= target) / len(values) if values else None,
        over_twice=sum(judged) / len(judged) if judged else None,
        counter_hours=hours,
        finished=max(ends, default=None),
        class_waits=tuple(sorted((c, statistics.fmean(w)) for c, w in by_class.items())),
    )


def warmed(history: Sequence[QueueEvent]) -> tuple[QueueState, Selector]:
    """The queue and its estimators after folding `history`, as the stream processors do."""
    state, selector = initial_state(""), Selector.default()
    for event in history:
        evolve(state, event)
        selector.observe(state, event)
    return state, selector


def told(state: QueueState, selector: Selector, events: Sequence[QueueEvent]) -> dict[str, float]:
    """Fold `events`; the P50 each ticket that joined was told, by ticket."""
    given: dict[str, float] = {}
    for event in events:
        evolve(state, event)
        selector.observe(state, event)
        if isinstance(event, TicketEnqueued):
            found = selector.book.given_.get(event.ticket_id)
            if found is not None and SERVED in found.estimates:
                given[event.ticket_id] = found.estimates[SERVED].p50
    return given


@dataclass(slots=True)
class Variant:
    plan: Plan
    runs: list[DayFigures] = field(default_factory=list)
    visits: list[tuple[Visit, ...]] = field(default_factory=list)  # of each run

    def median(self, name: str) -> float | None:
        values = [v for r in self.runs if (v := getattr(r, name)) is not None]
        return statistics.median(values) if values else None

    def class_wait(self, priority: str) -> float | None:
        """The median over the runs of the mean wait of the class `priority`."""
        values = [w for r in self.runs for c, w in r.class_waits if c == priority]
        return statistics.median(values) if values else None

    def spread(self, name: str) -> tuple[float, float] | None:
        values = [v for r in self.runs if (v := getattr(r, name)) is not None]
        return (min(values), max(values)) if values else None


@dataclass(slots=True)
class WhatIf:
    day: RecordedDay
    real: DayFigures
    variants: list[Variant]

    def change(self, name: str, variant: Variant, base: float | None = None) -> float | None:
        """`variant`'s median of figure `name` relative to `base` (default: the real day's)."""
        mine = variant.median(name)
        reference = getattr(self.real, name) if base is None else base
        if mine is None or not reference:
            return None
        return mine / reference - 1.0

    def model_holds(self) -> bool:
        own = self.variants[0]
        return all(
            (c := self.change(name, own)) is not None and abs(c) <= MODEL_TOLERANCE
            for name in ("mean_wait", "p90_wait")
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "day": self.day.day.isoformat(),
            "queue": self.day.config.name,
            "real": asdict(self.real),
            "model_holds": self.model_holds(),
            "variants": [
                {
                    "label": v.plan.label,
                    "counter_hours": counter_hours(v.plan.shifts),
                    "median": (
                        {k: v.median(k) for k in asdict(v.runs[0]) if k != "class_waits"}
                        if v.runs
                        else {}
                    ),
                    "class_waits": {c: v.class_wait(c) for c, _ in self.real.class_waits},
                    "runs": [asdict(r) for r in v.runs],
                }
                for v in self.variants
            ],
        }


def replay_events(day: RecordedDay, plan: Plan, seed: int) -> list[QueueEvent]:
    world = ReplayWorld(day, plan, seed=seed, queue_id="what-if")
    return asyncio.run(decide_locally(world.run()))


def what_if(
    events: Sequence[QueueEvent], day: date, plans: Sequence[Plan] = (), *, runs: int = RUNS
) -> WhatIf:
    """The real `day` of a queue's `events` against replays of it as staffed and as `plans`."""
    recorded = learn(events, day)
    history = [e for e in events if e.at < recorded.midnight]
    state, selector = warmed(history)
    before = copy.deepcopy(selector)
    target = float(recorded.config.target_wait_seconds)
    classes = {v.ticket_id: v.priority for v in recorded.visits}
    real = figures(
        recorded.visits,
        told(state, selector, recorded.events),
        target,
        recorded.counter_hours(),
    )
    variants = [Variant(p) for p in (own_plan(recorded), *plans)]
    for variant in variants:
        for seed in range(1, runs + 1):
            replayed = replay_events(recorded, variant.plan, seed)
            given = told(initial_state(""), copy.deepcopy(before), replayed)
            visits = learn(replayed, day).visits
            hours = counter_hours(variant.plan.shifts)
            variant.runs.append(figures(visits, given, target, hours, classes))
            variant.visits.append(visits)
    return WhatIf(recorded, real, variants)
