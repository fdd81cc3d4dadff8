"""The learning oracle: the oracle's forward simulation, left to learn what the estimators learn.

The oracle (`oracle.py`) knows the scenario's true parameters, so on a queue's first day it knows
what no estimator can: how long services take, the rush to come, how the classes mix, who will
walk away. The learner runs the same forward simulation of the world's rules (the counters'
schedule, their call delay, the walk to the counter, the wait for a no-show, the mix of service
types, the opening hours) but starts from a neutral guess for everything a day teaches, and
takes it from the day's events as they come:

* the service time of each type: a log-normal fitted to the services seen (service start to end),
  pulled towards a neutral prior (a median of two minutes, sigma 1) worth one service;
* the arrival rate: the last half hour's arrivals, all classes, and each class's share of the
  day's arrivals so far;
* the share of calls nobody answers: the no-shows seen over the calls made (with a prior of
  one in twenty, worth ten calls);
* patience: nobody is expected to walk away.

It answers how much of the oracle's lead a learner could close on the same day: `vq simulate
--offline --learner` scores it beside the oracle (a shadow: scored, never served). Given the truth
of one part (`knows`: "arrivals", the rate and class mix; "services", the service times;
`--learner-knows`), it shows what of that lead is that part's. Simulator only, like the oracle.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

from domain.events import (
    QueueEvent,
    ServiceStarted,
    TicketCalled,
    TicketEnqueued,
    TicketNoShow,
    TicketServed,
)
from domain.state import QueueState
from simulation.oracle import OracleEstimator
from simulation.scenario import DayPlan, Scenario

LEARNER = "learner"
KNOWABLE = ("arrivals", "services")  # what the learner may be given the truth of
PRIOR_MEDIAN = 120.0
PRIOR_SIGMA = 1.0
PRIOR_SERVICES = 1.0
PRIOR_NO_SHOWS = (0.5, 10.0)  # no-shows, calls
RATE_WINDOW_S = 1800.0
# The oracle adds this share of calls to the absent ones (walk-aways): not counted twice here.
WALK_AWAY_SHARE = 0.02
NEVER = 1e15


class LearningOracle(OracleEstimator):
    name = LEARNER

    def __init__(
        self,
        scenario: Scenario,
        *,
        days: int,
        samples: int = 48,
        seed: int = 0,
        knows: Sequence[str] = (),
    ) -> None:
        self.knows = frozenset(knows)
        patient = replace(scenario.behaviour, patience_scale=NEVER)
        super().__init__(
            replace(scenario, behaviour=patient), days=days, samples=samples, seed=seed
        )
        self.rng.seed(f"{seed}:{LEARNER}")
        # Per service type: services seen, the sum of their logs and of their squares.
        self.seen: dict[str, tuple[int, float, float]] = {}
        self.started: dict[str, float] = {}
        self.arrivals: deque[float] = deque()
        self.classes: dict[str, int] = {}
        self.calls = 0
        self.no_shows = 0
        self.now = 0.0
        for name in self.lognormal:
            self._fit(name)
        self._absent()

    # What the day taught of the arrivals, in place of the oracle's truth.

    def shares(self) -> Sequence[tuple[str, float]]:
        """Each class's share of the day's arrivals so far (the truth before anybody came)."""
        total = sum(self.classes.values())
        if not total or "arrivals" in self.knows:
            return self.scenario.priorities
        return tuple((name, n / total) for name, n in self.classes.items())

    def recent(self) -> float:
        """Arrivals an hour, all classes, over the last RATE_WINDOW_S."""
        while self.arrivals and self.arrivals[0] < self.now - RATE_WINDOW_S:
            self.arrivals.popleft()
        return len(self.arrivals) * 3600.0 / RATE_WINDOW_S

    def peak_rate(self) -> float:
        return super().peak_rate() if "arrivals" in self.knows else self.recent()

    def rate(self, plan: DayPlan, t: float) -> float:
        """The recent rate while the queue is open (nobody comes when it is closed)."""
        truth = super().rate(plan, t)
        if "arrivals" in self.knows:
            return truth
        return self.recent() if truth > 0 else 0.0

    def _fit(self, service_type: str) -> None:
        """The type's log-normal: the prior and the services seen, as one sample."""
        if "services" in self.knows:
            return  # the truth, as the oracle set it
        n, total, squares = self.seen.get(service_type, (0, 0.0, 0.0))
        prior = math.log(PRIOR_MEDIAN)
        weight = PRIOR_SERVICES + n
        mean = (PRIOR_SERVICES * prior + total) / weight
        # Squared deviations from `mean`: the prior's spread around its own median, plus the logs'.
        spread = PRIOR_SERVICES * (PRIOR_SIGMA**2 + (prior - mean) ** 2)
        spread += squares - 2 * mean * total + n * mean * mean
        self.lognormal[service_type] = (mean, math.sqrt(max(spread, 0.0) / weight))

    def _absent(self) -> None:
        seen, calls = PRIOR_NO_SHOWS
        share = (self.no_shows + seen) / (self.calls + calls)
        self.behaviour = replace(self.behaviour, absent_probability=max(share - WALK_AWAY_SHARE, 0))

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        super().observe(state, event)
        self.now = self._s(event.at)
        if isinstance(event, TicketEnqueued):
            self.arrivals.append(self.now)
            self.classes[event.priority] = self.classes.get(event.priority, 0) + 1
        elif isinstance(event, TicketCalled):
            self.calls += 1
            self._absent()
        elif isinstance(event, TicketNoShow):
            self.no_shows += 1
            self._absent()
        elif isinstance(event, ServiceStarted):
            self.started[event.ticket_id] = self.now
        elif isinstance(event, TicketServed) and event.ticket_id in self.started:
            took = self.now - self.started.pop(event.ticket_id)
            ticket = state.tickets.get(event.ticket_id)
            if took > 0 and ticket is not None:
                service_type = ticket.service_type or self.types[0][0]
                n, total, squares = self.seen.get(service_type, (0, 0.0, 0.0))
                x = math.log(took)
                self.seen[service_type] = (n + 1, total + x, squares + x * x)
                self._fit(service_type)
