"""The simulated world: people and staff of a scenario, as a stream of timed commands.

`commands(...)` is a generator of `TimedCommand`s in time order. After each one the driver sends
back the events the queue produced (an empty list when the command was refused), because staff
and customers react to what happened (which ticket a counter got). The offline driver
(`simulation.offline`) decides and folds them locally; a live driver can send the same commands
through the HTTP API with an accelerated clock and send back the events it reads.

Randomness comes from a few `random.Random`s seeded from the seed and a purpose, so a seeded run
is reproducible and, say, the arrivals do not change when staff behaviour is tuned.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from domain.commands import (
    CallNext,
    CancelTicket,
    CloseQueue,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    MarkNoShow,
    OpenQueue,
    QueueCommand,
    RecallTicket,
    ReturnTicket,
    SetCounterBreak,
    StartService,
)
from domain.events import (
    QueueEvent,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketReturned,
    TicketServed,
)
from simulation.scenario import DayPlan, Scenario, day_plans, epoch


@dataclass(frozen=True, slots=True)
class TimedCommand:
    at: datetime
    command: QueueCommand


Feedback = Sequence[QueueEvent]
CommandStream = Generator[TimedCommand, Feedback, None]


@dataclass(slots=True)
class Person:
    ticket_id: str
    priority: str
    service_type: str | None
    arrived: float
    patience: float
    service: float  # what serving them will take, once they stand at the counter
    gone: bool = False  # gave up without cancelling: a no-show when called
    absent: bool = False  # away when called this time
    stranger: bool = False  # not the scenario's: somebody who took a ticket another way


@dataclass(slots=True)
class Counter:
    name: str
    shifts: list[tuple[float, float]] = field(default_factory=list)
    on: bool = False
    until: float = 0.0  # end of the current shift
    extends: bool = False  # the shift runs on past closing until the line is empty
    serving: str | None = None
    calling: bool = False  # a call is scheduled
    idle_since: float | None = None


def sample_arrivals(scenario: Scenario, plan: DayPlan, rng: random.Random) -> list[float]:
    """Arrival times of one day: a non-homogeneous Poisson process by thinning."""
    peak = scenario.max_rate_per_hour() / 3600.0
    if peak <= 0:
        return []
    times: list[float] = []
    t = plan.opens
    while True:
        t += rng.expovariate(peak)
        if t >= plan.closes:
            return times
        rate = scenario.rate_per_hour(plan.weekday, plan.minute_of_day(t)) / 3600.0
        if rng.random() * peak < rate:
            times.append(t)


def _choose(rng: random.Random, shares: Sequence[tuple[str, float]]) -> str:
    total = sum(s for _, s in shares)
    x = rng.random() * total
    for name, share in shares:
        x -= share
        if x < 0:
            return name
    return shares[-1][0]


class World:
    """The discrete-event core. `run()` is the generator; everything else reacts to feedback."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        days: int,
        seed: int,
        queue_id: str,
        tenant_id: str,
        id_prefix: str,
    ) -> None:
        self.scenario = scenario
        self.plans = day_plans(scenario, days)
        self.base = epoch(scenario)
        self.queue_id, self.tenant_id, self.id_prefix = queue_id, tenant_id, id_prefix
        self.rng_arrivals = random.Random(f"{seed}:arrivals")
        self.rng_people = random.Random(f"{seed}:people")
        self.rng_staff = random.Random(f"{seed}:staff")
        self.agenda: list[tuple[float, int, str, str]] = []
        self.seq = 0
        self.people: dict[str, Person] = {}
        self.waiting: set[str] = set()
        self.counters = {c.name: Counter(c.name) for c in scenario.counters}
        self.open = False
        self.close_at = 0.0

    # The agenda ---------------------------------------------------------------------------

    def at(self, t: float, action: str, subject: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.agenda, (t, self.seq, action, subject))

    def _time(self, t: float) -> datetime:
        return self.base + timedelta(seconds=t)

    def run(self) -> CommandStream:
        first = self.plans[0].opens - 60.0
        config = self.scenario.queue_config
        yield TimedCommand(
            self._time(first),
            CreateQueue(
                queue_id=self.queue_id, tenant_id=self.tenant_id, config=config, status="closed"
            ),
        )
        for plan in self.plans:
            self._plan_day(plan)
        while self.agenda:
            t, _, action, subject = heapq.heappop(self.agenda)
            command = getattr(self, f"_{action}")(t, subject)
            if command is None:
                continue
            feedback = yield TimedCommand(self._time(t), command)
            self._react(t, command, feedback or [])

    def busy(self) -> bool:
        """Somebody is still waiting, being called or served (the queue may be closed)."""
        return bool(self.waiting) or any(
            c.serving is not None or c.calling for c in self.counters.values()
        )

    def tail(self, timed: TimedCommand) -> bool:
        """`timed` closes the day, or comes after the close while somebody is still waiting or
        at a counter (the day's tail; the next opening is not)."""
        return isinstance(timed.command, CloseQueue) or (not self.open and self.busy())

    def _plan_day(self, plan: DayPlan) -> None:
        self.at(plan.opens, "open", str(plan.index))
        self.at(plan.closes, "close", str(plan.index))
        for name, shifts in plan.shifts.items():
            for start, end in shifts:
                self.at(start, "shift_start", f"{name}|{end}|{int(end >= plan.closes)}")
            # A gap between two shifts of the day is a break, and staff say so as they go (or
            # plan it ahead: `break_notice`, from the opening at the earliest).
            notice = self.scenario.behaviour.break_notice
            for (_, end), (start, _) in pairwise(sorted(shifts)):
                if start > end:
                    told = max(end - notice, plan.opens) if notice > 0 else end
                    self.at(told, "break", f"{name}|{end}|{start}")
        for person in self._arrivals(plan):
            self.people[person.ticket_id] = person
            self.at(person.arrived, "arrive", person.ticket_id)

    def _arrivals(self, plan: DayPlan) -> list[Person]:
        """The people who come on the day of `plan`, drawn from the scenario's rates."""
        people: list[Person] = []
        for n, t in enumerate(sample_arrivals(self.scenario, plan, self.rng_arrivals), 1):
            ticket_id = f"{self.id_prefix}{self.scenario.name}-{plan.index + 1:03d}-{n:05d}"
            people.append(self._person(ticket_id, t))
        return people

    def _person(self, ticket_id: str, t: float, rng: random.Random | None = None) -> Person:
        rng, s = rng or self.rng_arrivals, self.scenario
        kind = _choose(rng, [(st.name, st.share) for st in s.service_types])
        st = next(x for x in s.service_types if x.name == kind)
        b = s.behaviour
        return Person(
            ticket_id=ticket_id,
            priority=_choose(rng, s.priorities),
            service_type=kind,
            arrived=t,
            patience=rng.weibullvariate(b.patience_scale, b.patience_shape),
            service=rng.lognormvariate(math.log(st.median_seconds), st.sigma),
        )

    # Actions: each returns the command to send, or None ----------------------------------------

    def _open(self, t: float, subject: str) -> QueueCommand:
        self.open = True
        self.close_at = self.plans[int(subject)].closes
        for counter in self.counters.values():  # yesterday's late shifts are over
            if counter.serving is None and not counter.calling:
                counter.on, counter.idle_since = False, None
        return OpenQueue()

    def _close(self, t: float, subject: str) -> QueueCommand:
        self.open = False
        return CloseQueue(reason="closing time")

    def _shift_start(self, t: float, subject: str) -> None:
        name, end, extends = subject.split("|")
        counter = self.counters[name]
        counter.on, counter.until, counter.extends = True, float(end), extends == "1"
        self.at(float(end), "shift_end", name)
        if counter.serving is None and not counter.calling:
            self._call_soon(counter, t)

    def _break(self, t: float, subject: str) -> QueueCommand:
        """The counter's staff tell the queue of their break until their next shift: as they
        go, or planned ahead (it starts as their shift ends)."""
        name, leaves, back = subject.split("|")
        starts = None if float(leaves) <= t else self._time(float(leaves))
        return SetCounterBreak(counter=name, starts_at=starts, ends_at=self._time(float(back)))

    def _shift_end(self, t: float, subject: str) -> None:
        counter = self.counters[subject]
        if counter.until <= t and counter.serving is None and not counter.calling:
            self._maybe_stop(counter, t)

    def _maybe_stop(self, counter: Counter, t: float) -> bool:
        """Off shift unless the shift runs on past closing and people are still waiting."""
        if t < counter.until or (counter.extends and self.waiting and not self.open):
            return False
        counter.on, counter.idle_since = False, None
        return True

    def _call_soon(self, counter: Counter, t: float) -> None:
        counter.calling, counter.idle_since = True, None
        self.at(
            t + self.rng_staff.uniform(*self.scenario.behaviour.call_delay), "call", counter.name
        )

    def _call(self, t: float, subject: str) -> QueueCommand | None:
        counter = self.counters[subject]
        counter.calling = False
        if not counter.on or self._maybe_stop(counter, t):
            return None
        if not self.waiting:
            self._idle(counter, t)
            return None
        return CallNext(counter=counter.name)

    def _idle(self, counter: Counter, t: float) -> None:
        if not self._maybe_stop(counter, t):
            counter.idle_since = t

    def _arrive(self, t: float, subject: str) -> QueueCommand:
        person = self.people[subject]
        return EnqueueTicket(
            ticket_id=person.ticket_id,
            priority=person.priority,
            service_type=person.service_type,
            channel="kiosk",
        )

    def _start(self, t: float, subject: str) -> QueueCommand:
        return StartService(ticket_id=subject)

    def _complete(self, t: float, subject: str) -> QueueCommand:
        return CompleteService(ticket_id=subject)

    def _recall(self, t: float, subject: str) -> QueueCommand:
        return RecallTicket(ticket_id=subject)

    def _no_show(self, t: float, subject: str) -> QueueCommand:
        return MarkNoShow(ticket_id=subject)

    def _return(self, t: float, subject: str) -> QueueCommand | None:
        return ReturnTicket(ticket_id=subject) if self.open else None

    def _give_up(self, t: float, subject: str) -> QueueCommand | None:
        person = self.people[subject]
        if subject not in self.waiting or person.gone:
            return None
        if self.rng_people.random() < self.scenario.behaviour.cancel_share:
            return CancelTicket(ticket_id=subject, by="customer", reason="gave up waiting")
        person.gone = True  # leaves without a word: the counter finds out when it calls
        return None

    # Reactions to what the queue did ----------------------------------------------------------

    def _react(self, t: float, command: QueueCommand, events: Feedback) -> None:
        if isinstance(command, CallNext) and not events:
            self._idle(self.counters[command.counter], t)  # another counter was faster
        for event in events:
            if isinstance(event, TicketEnqueued | TicketReturned):
                self._joined(t, event.ticket_id, returned=isinstance(event, TicketReturned))
            elif isinstance(event, TicketCalled):
                self._called(t, event)
            elif isinstance(event, TicketCancelled):
                self.waiting.discard(event.ticket_id)
            elif isinstance(event, TicketServed | TicketNoShow):
                self._freed(t, event.counter)

    def _joined(self, t: float, ticket_id: str, *, returned: bool) -> None:
        self.waiting.add(ticket_id)
        person = self.people[ticket_id]
        if not returned:
            self.at(t + person.patience, "give_up", ticket_id)
        idle = [c for c in self.counters.values() if c.on and c.idle_since is not None]
        if idle:
            longest = min(idle, key=lambda c: (c.idle_since or 0.0, c.name))
            self._call_soon(longest, t)

    def _called(self, t: float, event: TicketCalled) -> None:
        self.waiting.discard(event.ticket_id)
        counter = self.counters[event.counter]
        counter.serving = event.ticket_id
        person = self.people.get(event.ticket_id) or self._stranger(t, event.ticket_id)
        b = self.scenario.behaviour
        person.absent = not person.stranger and self._absent(person)
        if person.absent:
            self.at(t + b.recall_after, "recall", person.ticket_id)
            self.at(t + b.no_show_after, "no_show", person.ticket_id)
            return
        start = t + self._walk(person)
        self.at(start, "start", person.ticket_id)
        self.at(start + person.service, "complete", person.ticket_id)

    def _stranger(self, t: float, ticket_id: str) -> Person:
        """A visitor's ticket (the demo's kiosk): served as the scenario's own, from its id's draws."""
        person = self._person(ticket_id, t, random.Random(ticket_id))
        person.stranger = True
        self.people[ticket_id] = person
        return person

    def _absent(self, person: Person) -> bool:
        """Whether `person`, just called, is not there (gone, or away for a while)."""
        return person.gone or self.rng_people.random() < self.scenario.behaviour.absent_probability

    def _walk(self, person: Person) -> float:
        """How long `person`, called and there, takes to reach the counter."""
        return self.rng_people.uniform(*self.scenario.behaviour.walk)

    def _freed(self, t: float, counter_name: str) -> None:
        counter = self.counters[counter_name]
        ticket_id, counter.serving = counter.serving, None
        person = self.people.get(ticket_id or "")
        b = self.scenario.behaviour
        returns = person is not None and person.absent and not person.gone
        if returns and person is not None and self.rng_people.random() < b.return_probability:
            # Away when called (not a walk-away): back within the grace period, if still open.
            grace = self.scenario.queue_config.no_show_grace_seconds
            back = t + self.rng_people.uniform(0.1, 0.9) * grace
            if back < self.close_at:
                self.at(back, "return", person.ticket_id)
        if not self._maybe_stop(counter, t):
            self._call_soon(counter, t)


def commands(
    scenario: Scenario,
    *,
    days: int,
    seed: int,
    queue_id: str | None = None,
    tenant_id: str = "sim-tenant",
    id_prefix: str = "",
) -> CommandStream:
    """The timed commands of `days` open days of `scenario`; send back each command's events."""
    world = World(
        scenario,
        days=days,
        seed=seed,
        queue_id=queue_id or f"sim-{scenario.name}",
        tenant_id=tenant_id,
        id_prefix=id_prefix,
    )
    return world.run()
