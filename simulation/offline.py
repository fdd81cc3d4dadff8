"""Offline mode: the world's commands executed locally, through the estimators.

No server: the write side's own `QueueService` runs every command over the in-memory event store
(the same decide, fold and append as in production, with no PostgreSQL), and a `Selector`
observes every event it appended, folded as the stream processors fold them. The oracle rides
along as a shadow (scored, never served), asked at enqueue for every `oracle_every`-th ticket
(it is costly); every estimator is then also scored on exactly those tickets, so the comparison
with the oracle is paired.

The first `warmup_days` are the estimators' warm-up: they start knowing only the queue's
configuration, as a real queue does on its first day. Their tickets are scored apart, so the
main figures describe the estimators once they have seen a little history.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.clock import utcnow
from domain.commands import CreateQueue
from domain.errors import Rejected
from domain.estimation.accuracy import AccuracyBook, AccuracyFigures
from domain.estimation.model import Estimate
from domain.estimation.selector import Selector
from domain.events import QueueEvent, TicketEnqueued, TicketTransferredIn
from domain.evolve import evolve
from domain.state import QueueState, TicketState, initial_state
from eventstore.memory import InMemoryEventStore
from eventstore.port import EventStore
from eventstore.values import CommandContext
from service_layer.queues import CommandRequest, QueueService
from simulation.learner import LEARNER, LearningOracle
from simulation.oracle import OracleEstimator
from simulation.scenario import Scenario, day_plans, epoch
from simulation.world import CommandStream, TimedCommand, commands

ORACLE = "oracle"
ACTOR = "system:simulation"


class LocalQueue:
    """One queue served by the real `QueueService` over an in-memory event store."""

    def __init__(self, store: EventStore | None = None) -> None:
        self.store = store or InMemoryEventStore()  # another store: a test's, say PostgreSQL
        # Snapshots only speed up a process that restarts; this one never does.
        self._service = QueueService(self.store, utcnow, snapshot_every=None)
        self._queue_id: str | None = None
        self._tenant_id = ""
        self.refused = 0  # commands the rules refused

    async def run(self, timed: TimedCommand) -> list[QueueEvent]:
        """The events the queue appends for the command at its time (none if refused)."""
        command = timed.command
        if isinstance(command, CreateQueue):
            self._queue_id, self._tenant_id = command.queue_id, command.tenant_id
        command_id = str(uuid.uuid4())
        context = CommandContext(
            command_id=command_id, correlation_id=command_id, actor=ACTOR, occurred_at=timed.at
        )
        try:
            outcome = await self._service.execute(
                CommandRequest(
                    tenant_id=self._tenant_id,
                    queue_id=self._queue_id,
                    command=command,
                    context=context,
                )
            )
        except Rejected:
            self.refused += 1
            return []
        return [record.event for record in outcome.records]


async def play_locally(
    stream: CommandStream, until: datetime | None = None, queue: LocalQueue | None = None
) -> AsyncIterator[tuple[TimedCommand, list[QueueEvent]]]:
    """A world's commands (until `until`, or the end) with the events the queue appends for
    each, with no server (see `LocalQueue`); a refusal makes no events."""
    queue = queue or LocalQueue()
    try:
        timed = next(stream)
        while until is None or timed.at < until:
            produced = await queue.run(timed)
            yield timed, produced
            timed = stream.send(produced)
    except StopIteration:
        pass
    finally:
        stream.close()


async def decide_locally(stream: CommandStream, until: datetime | None = None) -> list[QueueEvent]:
    """The events of `play_locally`, in order."""
    return [event async for _, produced in play_locally(stream, until) for event in produced]


@dataclass(slots=True)
class RunResult:
    scenario: str
    days: int
    warmup_days: int
    seed: int
    figures: dict[str, AccuracyFigures]  # every ticket after the warm-up
    paired: dict[str, AccuracyFigures]  # the tickets the oracle estimated, after the warm-up
    warmup: dict[str, AccuracyFigures]  # the warm-up's tickets
    served_by: dict[str, int]
    totals: dict[str, int]
    events: int
    rejected: int
    seconds: float
    oracle_seconds: float
    oracle_every: int

    def ratio(self, name: str = "served") -> float | None:
        """`name`'s within-20% share as a fraction of the oracle's, on the same tickets."""
        mine, oracle = self.paired.get(name), self.paired.get(ORACLE)
        if mine is None or oracle is None or not mine.within or not oracle.within:
            return None
        return mine.within / oracle.within


@dataclass(slots=True)
class _SampledOracle:
    """The oracle, asked for one ticket in `every` (by order of arrival) and timed."""

    inner: OracleEstimator
    every: int
    name: str = ORACLE
    seconds: float = 0.0
    _seen: set[str] = field(default_factory=set)
    _count: int = 0

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        self.inner.observe(state, event)

    def estimate(
        self,
        state: QueueState,
        ticket_id: str,
        at: datetime | None = None,
        newcomer: TicketState | None = None,
    ) -> Estimate | None:
        if newcomer is not None:  # a hypothetical ticket: asked on purpose, always answered
            return self.inner.estimate(state, ticket_id, at, newcomer)
        if ticket_id not in self._seen:  # asked once per ticket, at its enqueue
            self._seen.add(ticket_id)
            self._count += 1
            if (self._count - 1) % self.every == 0:
                started = time.perf_counter()
                found = self.inner.estimate(state, ticket_id, at)
                self.seconds += time.perf_counter() - started
                return found
        return None


class _Books:
    """Splits scoring by period (warm-up or not) and pairing (the oracle estimated it)."""

    def __init__(self, scored_from: datetime) -> None:
        self.scored_from = scored_from
        self.all = AccuracyBook()
        self.paired = AccuracyBook()
        self.warmup = AccuracyBook()

    def record(self, selector: Selector, state: QueueState, event: QueueEvent) -> None:
        if isinstance(event, TicketEnqueued | TicketTransferredIn):
            given = selector.book.given_.get(event.ticket_id)
            if given is None:
                return
            if event.at < self.scored_from:
                self.warmup.given(event.ticket_id, event.at, given.estimates)
                return
            self.all.given(event.ticket_id, event.at, given.estimates)
            if ORACLE in given.estimates:
                self.paired.given(event.ticket_id, event.at, given.estimates)
            return
        for book in (self.all, self.paired, self.warmup):
            book.observe(state, event)


def run(
    scenario: Scenario,
    *,
    days: int,
    seed: int,
    warmup_days: int = 0,
    oracle: bool = True,
    samples: int = 48,
    oracle_every: int = 1,
    learner: bool = False,
    learner_knows: Sequence[str] = (),
) -> RunResult:
    started = time.perf_counter()
    every = max(oracle_every, 1)
    shadow = _SampledOracle(OracleEstimator(scenario, days=days, samples=samples, seed=seed), every)
    shadows = [shadow] if oracle else []
    if learner:  # asked for the same tickets as the oracle (see simulation/learner.py)
        learning = LearningOracle(
            scenario, days=days, samples=samples, seed=seed, knows=learner_knows
        )
        shadows.append(_SampledOracle(learning, every, name=LEARNER))
    selector = Selector.default(shadows=shadows)
    plans = day_plans(scenario, days)
    first_scored = plans[min(max(warmup_days, 0), days - 1)]
    scored_from = epoch(scenario) + timedelta(seconds=first_scored.midnight)
    books = _Books(scored_from)
    # The queue as the stream processors fold it, for the estimators to observe event by event.
    state = initial_state("")
    queue = LocalQueue()
    stream = commands(scenario, days=days, seed=seed)
    events = asyncio.run(_observe(stream, queue, state, selector, books))
    return RunResult(
        scenario=scenario.name,
        days=days,
        warmup_days=warmup_days,
        seed=seed,
        figures=_by_name(books.all),
        paired=_by_name(books.paired),
        warmup=_by_name(books.warmup),
        served_by=dict(selector.served_by),
        totals=dict(state.totals),
        events=events,
        rejected=queue.refused,
        seconds=time.perf_counter() - started,
        oracle_seconds=shadow.seconds,
        oracle_every=shadow.every,
    )


async def _observe(
    stream: CommandStream,
    queue: LocalQueue,
    state: QueueState,
    selector: Selector,
    books: _Books,
) -> int:
    """Play the world on `queue`; every event it appends is folded into `state` and observed
    by the estimators and the books. Returns how many events there were."""
    seen = 0
    async for _, events in play_locally(stream, queue=queue):
        for event in events:
            evolve(state, event)
            selector.observe(state, event)
            books.record(selector, state, event)
        seen += len(events)
    return seen


def _by_name(book: AccuracyBook) -> dict[str, AccuracyFigures]:
    return dict(book.figures)
