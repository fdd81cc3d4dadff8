"""The oracle: an estimator that knows the scenario's true parameters (the ceiling).

It knows what no estimator may: the true service-time distribution of each type, the counter
schedule, the arrival rates, people's patience and the staff's habits. It does not know the
future draws, nor who among those waiting has already left without a word. From the state at
enqueue it runs `samples` forward simulations of the world's rules (a counter calls after its
call delay, serves the next in line, waits out no-shows, goes off at the end of its shift) until
the ticket is called, and reports the P10/P50/P90 of those waits. It walks the line once per
sample, so it is asked at enqueue only, and only by the simulator.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from statistics import NormalDist

from domain.estimation.model import Estimate
from domain.estimation.stats import quantile
from domain.events import QueueEvent, TicketNoShow, TicketServed
from domain.state import QueueState, TicketState, line_key
from simulation.scenario import DayPlan, Scenario, day_plans, epoch

_NORMAL = NormalDist()
INF = math.inf
HORIZON = 12 * 3600.0

# A person in the forward run: (service type, cancels at, leaves silently at).
Person = tuple[str, float, float]


class OracleEstimator:
    name = "oracle"

    def __init__(self, scenario: Scenario, *, days: int, samples: int = 48, seed: int = 0) -> None:
        self.scenario = scenario
        self.behaviour = scenario.behaviour  # people's and staff's habits (a learner's own)
        self.samples = samples
        self.base = epoch(scenario)
        self.plans = day_plans(scenario, days)
        self.rng = random.Random(f"{seed}:oracle")
        self.lognormal = {
            t.name: (math.log(t.median_seconds), t.sigma) for t in scenario.service_types
        }
        self.types = [(t.name, t.share) for t in scenario.service_types]
        self.last_free: dict[str, float] = {}

    def _s(self, at: datetime) -> float:
        return (at - self.base).total_seconds()

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        if isinstance(event, TicketServed | TicketNoShow):
            self.last_free[event.counter] = self._s(event.at)

    # People -------------------------------------------------------------------------------

    def _odds(self, arrived: float, now: float) -> tuple[float, float]:
        """(chance they already left silently, (waited / scale) ** shape), given still in line."""
        b = self.behaviour
        hazard = (max(now - arrived, 0.0) / b.patience_scale) ** b.patience_shape
        survived = math.exp(-hazard)
        silent = (1.0 - survived) * (1.0 - b.cancel_share)
        return silent / (survived + silent), hazard

    def _person(self, kind: str, arrived: float, odds: tuple[float, float], now: float) -> Person:
        """When somebody in line at `now` will cancel or leave without a word (true patience)."""
        b = self.behaviour
        random_ = self.rng.random
        left, hazard = odds
        if random_() < left:
            return kind, INF, now
        u = max(random_(), 1e-12)
        give_up = arrived + b.patience_scale * (hazard - math.log(u)) ** (1.0 / b.patience_shape)
        if random_() < b.cancel_share:
            return kind, give_up, INF
        return kind, INF, give_up

    def _choose_type(self) -> str:
        x = self.rng.random()
        for name, share in self.types:
            x -= share
            if x < 0:
                return name
        return self.types[-1][0]

    # Arrivals: the truth (the learning oracle, simulation/learner.py, puts what it learned) ---

    def shares(self) -> Sequence[tuple[str, float]]:
        """Each class's share of the arrivals."""
        return self.scenario.priorities

    def peak_rate(self) -> float:
        """The most arrivals an hour at any time (the forward runs thin it to `rate`)."""
        return self.scenario.max_rate_per_hour()

    def rate(self, plan: DayPlan, t: float) -> float:
        """Arrivals an hour at `t` (seconds since the epoch) of the day of `plan`."""
        return self.scenario.rate_per_hour(plan.weekday, plan.minute_of_day(t))

    # Counters -------------------------------------------------------------------------------

    def _plan(self, t: float) -> DayPlan:
        current = self.plans[0]
        for plan in self.plans:
            if plan.opens - 3600 <= t:
                current = plan
        return current

    def _service(self, service_type: str, longer_than: float = 0.0) -> float:
        mu, sigma = self.lognormal[service_type]
        if longer_than <= 0:
            return math.exp(mu + sigma * self.rng.gauss())
        low = _NORMAL.cdf((math.log(longer_than) - mu) / sigma)
        u = low + (1.0 - low) * self.rng.random()
        return math.exp(mu + sigma * _NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12)))

    def _busy_until(self, ticket: TicketState, t0: float) -> float:
        b = self.behaviour
        service_type = ticket.service_type or self.types[0][0]
        if ticket.status == "serving" and ticket.started_at is not None:
            started = self._s(ticket.started_at)
            return started + self._service(service_type, t0 - started)
        called = self._s(ticket.called_at) if ticket.called_at is not None else t0
        elapsed = t0 - called
        low, high = b.walk
        if elapsed >= high:
            return called + b.no_show_after
        still_walking = (high - max(elapsed, low)) / (high - low)
        absent = b.absent_probability + 0.02  # a walk-away now and then, too
        if self.rng.random() * (absent + (1 - absent) * still_walking) < absent:
            return called + b.no_show_after
        start = called + self.rng.uniform(max(elapsed, low), high)
        return start + self._service(service_type)

    def _releases(
        self, state: QueueState, plan: DayPlan, t0: float, ahead: int
    ) -> list[tuple[float, str]]:
        """(time of the counter's next call, name) for every counter that will call today."""
        releases: list[tuple[float, str]] = []
        delay = self.behaviour.call_delay
        uniform = self.rng.uniform
        idle_taken = False
        for name, shifts in plan.shifts.items():
            ids = state.at_counters.get(name)
            if ids:
                ticket = state.tickets[ids[-1]]
                releases.append((self._busy_until(ticket, t0) + uniform(*delay), name))
                continue
            on = any(a <= t0 < e for a, e in shifts) or (
                t0 >= plan.closes and any(e >= plan.closes and a <= t0 for a, e in shifts)
            )
            if on:
                freed = self.last_free.get(name, -INF)
                if t0 - freed < delay[1]:  # just freed: its next call is under way
                    releases.append((max(t0, freed + uniform(*delay)), name))
                elif not idle_taken or ahead > 0:
                    # Idle: one idle counter answers each arrival, after its call delay.
                    idle_taken = True
                    releases.append((t0 + uniform(*delay), name))
                continue
            later = [a for a, _ in shifts if a > t0]
            if later:
                releases.append((min(later) + uniform(*delay), name))
        return releases

    @staticmethod
    def _rota(plan: DayPlan) -> dict[str, list[tuple[float, float]]]:
        """Per counter, its shifts with a shift ending at or after closing running on."""
        return {
            name: [(a, INF if e >= plan.closes else e) for a, e in shifts]
            for name, shifts in plan.shifts.items()
        }

    # One forward run ------------------------------------------------------------------------

    def _run(
        self,
        state: QueueState,
        t0: float,
        line: list[Person],
        rank: int,
        plan: DayPlan,
        rota: dict[str, list[tuple[float, float]]],
    ) -> float:
        b = self.behaviour
        rng = self.rng
        random_, gauss, uniform = rng.random, rng.gauss, rng.uniform
        delay_low, delay_high = b.call_delay
        walk_low, walk_high = b.walk
        absent, no_show_after = b.absent_probability, b.no_show_after
        lognormal = self.lognormal
        heap = self._releases(state, plan, t0, len(line))
        heapq.heapify(heap)
        ahead: deque[Person] = deque(line)
        jumpers: deque[Person] = deque()
        higher = sum(s for p, s in self.shares() if state.ranks.get(p, 99) < rank)
        peak = self.peak_rate() * higher / 3600.0
        next_arrival = t0 + rng.expovariate(peak) if peak > 0 else INF
        closes = plan.closes
        while heap:
            t, name = heapq.heappop(heap)
            # On shift? If not, the counter calls again when its next shift starts.
            on, upcoming = False, INF
            for start, end in rota[name]:
                if start - 1e-6 <= t < end:
                    on = True
                    break
                if start > t:
                    upcoming = min(upcoming, start)
            if not on and t >= closes and any(end == INF for _, end in rota[name]):
                on = True  # the late shift serves until the line is empty
            if not on:
                if upcoming < INF:
                    heapq.heappush(heap, (upcoming + uniform(delay_low, delay_high), name))
                continue
            while next_arrival <= t:  # higher classes that arrived meanwhile go first
                rate = self.rate(plan, next_arrival)
                if random_() * peak * 3600.0 < rate * higher:
                    kind = self._choose_type()
                    jumpers.append(self._person(kind, next_arrival, (0.0, 0.0), next_arrival))
                next_arrival += rng.expovariate(peak)
            person: Person | None = None
            while jumpers and jumpers[0][1] <= t:
                jumpers.popleft()
            if jumpers:
                person = jumpers.popleft()
            else:
                while ahead and ahead[0][1] <= t:
                    ahead.popleft()
                if not ahead:
                    return t - t0
                person = ahead.popleft()
            if person[2] <= t or random_() < absent:
                busy = no_show_after
            else:
                mu, sigma = lognormal[person[0]]
                busy = uniform(walk_low, walk_high) + math.exp(mu + sigma * gauss())
            heapq.heappush(heap, (t + busy + uniform(delay_low, delay_high), name))
        return HORIZON  # nobody left to call it today

    def estimate(
        self,
        state: QueueState,
        ticket_id: str,
        at: datetime | None = None,
        newcomer: TicketState | None = None,
    ) -> Estimate | None:
        ticket = newcomer if newcomer is not None else state.tickets.get(ticket_id)
        if ticket is None or ticket.status != "waiting" or at is None:
            return None
        t0 = self._s(at)
        plan = self._plan(t0)
        rota = self._rota(plan)
        key = line_key(state, ticket)
        index: int = state.waiting.bisect_left(key)
        fallback = self.types[0][0]
        people = []
        for ahead_key in state.waiting.islice(0, index):
            person = state.tickets[ahead_key[3]]
            arrived = self._s(person.enqueued_at)
            patient = person.called_at is not None  # returned no-shows wait it out
            odds = (0.0, 0.0) if patient else self._odds(arrived, t0)
            people.append((person.service_type or fallback, arrived, odds, patient))
        waits = []
        for _ in range(self.samples):
            line = [
                (kind, INF, INF) if patient else self._person(kind, arrived, odds, t0)
                for kind, arrived, odds, patient in people
            ]
            waits.append(self._run(state, t0, line, key[0], plan, rota))
        waits.sort()
        p10, p50, p90 = (quantile(waits, p) for p in (0.1, 0.5, 0.9))
        return Estimate(p10, p50, p90, index, at, self.name)
