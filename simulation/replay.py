"""What-if replay: a recorded day played again through the real domain rules.

The same people come at the same times, in the same classes, for the same services; those who
were served take as long as they really took, those who gave up give up after as long as they
really waited, those who did not show do not show. The staffing (when each counter works) is the
day's own, or changed: a counter more or less in a window of the day. Then the world of the
simulator (`simulation.world`) plays it over the write side's own `QueueService`, so every call
follows the queue's ordering, priorities and no-show rules exactly as on the real day.

What the day cannot tell is drawn at random (seeded): how long somebody who never reached a
counter would have taken (a service of the same type that day), how long somebody served would
have waited before giving up, had the wait been longer (the patience of somebody who did give up
after waiting longer than they did, if anybody did), the counters' call delays and the walk to
the counter (from the day's own spread).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from domain.commands import PromoteAgedTickets, QueueCommand
from domain.config import QueueConfig
from simulation.recorded import RecordedDay, Span, Visit
from simulation.scenario import Behaviour, CounterPlan, DayPlan, Scenario, ServiceType
from simulation.world import Person, World

SLOT_S = 900.0  # staffing is planned in quarter hours
AGING_TICK_S = 60.0  # the write side's scheduler promotes aged tickets about this often
TAIL_S = 6 * 3600.0  # aging ticks go on this long after closing, while anybody waits
EXTRA = "what-if"  # name of the counters a change adds

Shifts = dict[str, tuple[Span, ...]]


class BadChange(ValueError):
    """A staffing change that cannot apply to the day (bad window, no counter to take off)."""


@dataclass(frozen=True, slots=True)
class Window:
    start: float  # seconds since local midnight
    end: float

    def label(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(seconds: float) -> str:
    minutes = round(seconds / 60.0)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_BUSIEST = re.compile(r"^busiest(?::(\d+)(h|m))?$")


def parse_window(text: str, day: RecordedDay) -> Window:
    """`HH:MM-HH:MM`, or `busiest:2h` / `busiest:90m` (the day's busiest stretch that long)."""
    text = text.strip().lower()
    if found := _WINDOW.match(text):
        h0, m0, h1, m1 = (int(g) for g in found.groups())
        if max(m0, m1) > 59 or max(h0, h1) > 24:
            raise BadChange(f"not a window of the day: {text!r}")
        window = Window(h0 * 3600.0 + m0 * 60.0, h1 * 3600.0 + m1 * 60.0)
        if window.end <= window.start:
            raise BadChange(f"the window ends before it starts: {text!r}")
        return window
    if found := _BUSIEST.match(text):
        amount, unit = found.groups()
        length = (int(amount) if amount else 2) * (3600.0 if unit in (None, "h") else 60.0)
        return busiest(day, length)
    raise BadChange(f"a window is HH:MM-HH:MM or busiest:2h, not {text!r}")


def busiest(day: RecordedDay, length: float) -> Window:
    """The stretch of `length` (whole quarter hours) between opening and closing in which the
    most people joined; the earliest of equals."""
    slots = max(1, math.ceil(length / SLOT_S))
    first = math.floor(day.opens / SLOT_S)
    last = max(first, math.ceil(day.closes / SLOT_S) - slots)
    counts: dict[int, int] = {}
    for visit in day.visits:
        slot = math.floor(visit.arrived / SLOT_S)
        counts[slot] = counts.get(slot, 0) + 1
    best = max(
        range(first, last + 1),
        key=lambda s: (sum(counts.get(s + k, 0) for k in range(slots)), -s),
    )
    return Window(best * SLOT_S, (best + slots) * SLOT_S)


def add_counter(shifts: Shifts, window: Window) -> Shifts:
    """A counter more, working through `window`."""
    n = 1 + sum(1 for name in shifts if name.startswith(EXTRA))
    return {**shifts, f"{EXTRA} {n}": ((window.start, window.end),)}


def remove_counter(shifts: Shifts, window: Window) -> Shifts:
    """A counter less through `window`: the one that works most of it stops for that time."""

    def overlap(spans: tuple[Span, ...]) -> float:
        return sum(max(0.0, min(e, window.end) - max(s, window.start)) for s, e in spans)

    worked = {name: overlap(spans) for name, spans in shifts.items()}
    name = max(sorted(worked, reverse=True), key=lambda n: worked[n], default=None)
    if name is None or worked[name] <= 0:
        raise BadChange(f"no counter works in {window.label()} to take off")
    cut: list[Span] = []
    for s, e in shifts[name]:
        cut.extend(p for p in ((s, min(e, window.start)), (max(s, window.end), e)) if p[1] > p[0])
    return {**shifts, name: tuple(cut)}


def counter_hours(shifts: Shifts) -> float:
    return sum(e - s for spans in shifts.values() for s, e in spans) / 3600.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What a replay plays: the day's people with these shifts and this configuration."""

    label: str
    shifts: Shifts
    config: QueueConfig


def own_plan(day: RecordedDay) -> Plan:
    return Plan("as staffed", dict(day.shifts), day.config)


def _scenario(day: RecordedDay, plan: Plan) -> Scenario:
    types = {v.service_type or "" for v in day.visits}
    return Scenario(
        name="what-if",
        description=f"the recorded day {day.day.isoformat()}",
        start=day.day,
        timezone=plan.config.timezone,
        weekdays=frozenset({day.day.weekday()}),
        opens=int(day.opens // 60),
        closes=int(day.closes // 60),
        queue_config=plan.config,
        rate_points=((0, 0.0),),
        weekday_factor=(1.0,) * 7,
        priorities=((plan.config.default_priority, 1.0),),
        service_types=tuple(ServiceType(t, 1.0, 60.0, 0.5) for t in sorted(types)),
        counters=tuple(CounterPlan(n, (), frozenset({day.day.weekday()})) for n in plan.shifts),
        behaviour=Behaviour(
            call_delay=day.call_delay,
            walk=day.walk,
            absent_probability=0.0,  # who does not show is the day's own
            recall_after=day.recall_after,
            no_show_after=day.no_show_after,
            return_probability=1.0,  # ... and who comes back after
            patience_scale=1.0,
            patience_shape=1.0,
            cancel_share=1.0,  # who gave up cancelled (a walk-away is a no-show of the day)
        ),
    )


class Patience:
    """How long people of the day would wait before giving up: a Kaplan-Meier estimate from
    those who gave up (at their wait) and those who were called first (patient at least as long
    as they waited). Most people never give up, so its tail is mostly "never"."""

    def __init__(self, visits: Sequence[Visit]) -> None:
        seen: list[tuple[float, bool]] = []
        for v in visits:
            if v.cancelled is not None:
                seen.append((v.cancelled - v.arrived, True))
            elif v.called is not None:
                seen.append((v.called - v.arrived, False))
        seen.sort()
        self.times: list[float] = []
        self.survival: list[float] = []  # P(patience > times[i])
        left, alive = len(seen), 1.0
        for t, gave_up in seen:
            if gave_up and left:
                alive *= 1.0 - 1.0 / left
                self.times.append(t)
                self.survival.append(alive)
            left -= 1

    def _alive(self, t: float) -> float:
        i = bisect.bisect_right(self.times, t)
        return self.survival[i - 1] if i else 1.0

    def of(self, visit: Visit, u: float) -> float:
        """The patience of `visit`: its own if it gave up, else a draw (`u` uniform in 0..1)
        given that it outlasted its real wait."""
        if visit.cancelled is not None:
            return visit.cancelled - visit.arrived
        waited = visit.wait
        if waited is None:
            return math.inf
        base = self._alive(waited)
        for t, alive in zip(self.times, self.survival, strict=True):
            if t > waited and alive <= u * base:
                return t
        return math.inf


class ReplayWorld(World):
    """The simulator's world with the recorded day's people and the plan's shifts."""

    def __init__(self, day: RecordedDay, plan: Plan, *, seed: int, queue_id: str) -> None:
        names = tuple(dict.fromkeys((*plan.config.counters, *plan.shifts)))
        plan = replace(plan, config=replace(plan.config, counters=names))
        super().__init__(
            _scenario(day, plan),
            days=1,
            seed=seed,
            queue_id=queue_id,
            tenant_id="what-if",
            id_prefix="",
        )
        self.day = day
        self.plans = [
            DayPlan(
                index=0,
                day=day.day,
                weekday=day.day.weekday(),
                midnight=0.0,
                opens=day.opens,
                closes=day.closes,
                shifts=dict(plan.shifts),
            )
        ]
        self.away_first = {v.ticket_id for v in day.visits if v.no_show}
        self.walks = {
            v.ticket_id: v.started - v.called
            for v in day.visits
            if v.started is not None and v.called is not None and not v.no_show
        }
        self.services: dict[str, list[float]] = {}
        for v in day.visits:
            if v.service is not None:
                self.services.setdefault(v.service_type or "", []).append(v.service)
        if plan.config.aging_after_seconds is not None:
            t = day.opens + AGING_TICK_S
            while t < day.closes + TAIL_S:
                self.at(t, "promote")
                t += AGING_TICK_S

    def _arrivals(self, plan: DayPlan) -> list[Person]:
        rng = self.rng_arrivals  # the scenario's arrivals are not drawn: the day's are
        config = self.scenario.queue_config
        patience = Patience(self.day.visits)
        anything = [s for found in self.services.values() for s in found] or [
            float(self.scenario.queue_config.mean_service_seconds or 300)
        ]
        people: list[Person] = []
        for v in self.day.visits:
            service = v.service
            if service is None:
                service = rng.choice(self.services.get(v.service_type or "") or anything)
            person = Person(
                ticket_id=v.ticket_id,
                # A policy of fewer classes (first come, first served) puts the others in its one.
                priority=v.priority
                if v.priority in config.priority_classes
                else config.default_priority,
                service_type=v.service_type,
                arrived=v.arrived,
                patience=patience.of(v, rng.random()),
                service=service,
            )
            person.gone = v.no_show and not v.returned
            people.append(person)
        return people

    def _absent(self, person: Person) -> bool:
        if person.ticket_id in self.away_first:
            self.away_first.discard(person.ticket_id)
            return True
        return person.gone

    def _walk(self, person: Person) -> float:
        walked = self.walks.pop(person.ticket_id, None)  # their own, the first time they came
        return walked if walked is not None else super()._walk(person)

    def _promote(self, t: float, subject: str) -> QueueCommand | None:
        return PromoteAgedTickets() if self.waiting else None
