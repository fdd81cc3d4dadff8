"""A queue's real day, learned from its events only: who came, what serving them took, who gave
up or did not show, and when each counter was working.

This is what the what-if replay (`simulation.replay`) plays again with other staffing. Nothing
here reads a scenario: a recorded day of a real queue and one of a simulated queue are learned
the same way, from the events the write side appended.

Staffing is not an event of its own, so it is inferred from the calls. A counter that is working
and free calls whoever is waiting within a short delay; so a counter that stayed free while
somebody waited far longer than that (`break_after`) was not working (a break, or not yet in).
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from domain.config import QueueConfig
from domain.events import (
    QueueClosed,
    QueueCreated,
    QueueEvent,
    QueueOpened,
    QueueReconfigured,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketRecalled,
    TicketReturned,
    TicketServed,
    TicketTransferredOut,
)
from domain.hours import zone

Seconds = Callable[[datetime], float]  # a time as seconds since the day's local midnight
BREAK_MIN_S = 120.0  # a counter free while somebody waits this long is not working (at least)
BREAK_DELAYS = 4.0  # ... or this many of its usual delays before a call


@dataclass(slots=True)
class Visit:
    """One ticket that joined on the recorded day (times in seconds since local midnight)."""

    ticket_id: str
    arrived: float
    priority: str
    service_type: str | None
    called: float | None = None  # first call
    started: float | None = None
    service: float | None = None  # start (or call, if it never started) to served
    cancelled: float | None = None
    no_show: bool = False  # absent at its first call
    returned: bool = False  # ... and came back within the grace period

    @property
    def wait(self) -> float | None:
        return None if self.called is None else self.called - self.arrived


@dataclass(frozen=True, slots=True)
class RecordedDay:
    day: date
    config: QueueConfig
    midnight: datetime  # local midnight, UTC
    opens: float
    closes: float
    visits: tuple[Visit, ...]
    shifts: dict[str, tuple[tuple[float, float], ...]]  # when each counter worked
    call_delay: tuple[float, float]  # a free, working counter calls within (P5, P95)
    walk: tuple[float, float]  # call to service start (P5, P95)
    recall_after: float
    no_show_after: float
    break_after: float
    events: tuple[QueueEvent, ...] = field(repr=False)

    def at(self, seconds: float) -> datetime:
        return self.midnight + timedelta(seconds=seconds)

    def counter_hours(self) -> float:
        return sum(e - s for spans in self.shifts.values() for s, e in spans) / 3600.0


class NoDay(ValueError):
    """The events hold no open day on that date."""


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone(timezone)).astimezone(UTC)


def config_of(events: Iterable[QueueEvent]) -> QueueConfig | None:
    config = None
    for event in events:
        if isinstance(event, QueueCreated | QueueReconfigured):
            config = event.config
    return config


def learn(events: Sequence[QueueEvent], day: date) -> RecordedDay:
    """The recorded day `day` (local to the queue) of a queue's events (all of them, in order)."""
    config = config_of(events)
    if config is None:
        raise NoDay("these events do not create a queue")
    midnight = local_midnight(day, config.timezone)
    end = midnight + timedelta(days=1)
    todays = tuple(e for e in events if midnight <= e.at < end)
    config = config_of(e for e in events if e.at < end) or config

    def s(at: datetime) -> float:
        return (at - midnight).total_seconds()

    opened = [s(e.at) for e in todays if isinstance(e, QueueOpened)]
    if not opened:
        raise NoDay(f"the queue did not open on {day.isoformat()}")
    closed = [s(e.at) for e in todays if isinstance(e, QueueClosed)]
    opens = opened[0]
    closes = closed[-1] if closed else s(todays[-1].at)
    visits = _visits(todays, s)
    stints = _stints(todays, s, closes)
    delays, busy = _delays(todays, s, opens, stints)
    usual = statistics.median(delays) if delays else 30.0
    break_after = max(BREAK_MIN_S, BREAK_DELAYS * usual)
    prompt = [d for d in delays if d <= break_after] or [usual]
    walks = [
        v.started - v.called
        for v in visits.values()
        if v.started is not None and v.called is not None and not v.no_show
    ]
    recalls = _after_call(todays, TicketRecalled, s) or [60.0]
    no_shows = _after_call(todays, TicketNoShow, s) or [float(config.no_show_grace_seconds)]
    spells = _Spells(stints)
    shifts = {
        name: _shifts(spans, spells, opens, closes, break_after, usual)
        for name, spans in busy.items()
    }
    return RecordedDay(
        day=day,
        config=config,
        midnight=midnight,
        opens=opens,
        closes=closes,
        visits=tuple(sorted(visits.values(), key=lambda v: (v.arrived, v.ticket_id))),
        shifts={name: spans for name, spans in sorted(shifts.items()) if spans},
        call_delay=_spread(prompt),
        walk=_spread(walks or [0.0]),
        recall_after=statistics.median(recalls),
        no_show_after=statistics.median(no_shows),
        break_after=break_after,
        events=todays,
    )


def _visits(events: Sequence[QueueEvent], s: Seconds) -> dict[str, Visit]:
    visits: dict[str, Visit] = {}
    for e in events:
        if isinstance(e, TicketEnqueued):
            visits[e.ticket_id] = Visit(e.ticket_id, s(e.at), e.priority, e.service_type)
            continue
        visit = visits.get(getattr(e, "ticket_id", ""))
        if visit is None:
            continue
        t = s(e.at)
        if isinstance(e, TicketCalled):
            if visit.called is None:
                visit.called = t
        elif isinstance(e, ServiceStarted):
            visit.started = t
        elif isinstance(e, TicketServed):
            begun = visit.started if visit.started is not None else visit.called
            visit.service = max(t - (t if begun is None else begun), 0.0)
        elif isinstance(e, TicketNoShow):
            visit.no_show = visit.no_show or not visit.returned
        elif isinstance(e, TicketReturned):
            visit.returned = True
        elif isinstance(e, TicketCancelled):
            visit.cancelled = t
    return visits


Span = tuple[float, float]


def _stints(events: Sequence[QueueEvent], s: Seconds, closes: float) -> list[Span]:
    """Every spell somebody spent waiting in line: joined (or came back) to called (or left)."""
    since: dict[str, float] = {}
    stints: list[Span] = []
    for e in events:
        if isinstance(e, TicketEnqueued | TicketReturned):
            since[e.ticket_id] = s(e.at)
        elif isinstance(e, TicketCalled | TicketCancelled | TicketTransferredOut):
            began = since.pop(e.ticket_id, None)
            if began is not None:
                stints.append((began, s(e.at)))
    last = max([closes, *(s(e.at) for e in events[-1:])])
    stints.extend((began, last) for began in since.values())
    return sorted(stints)


def _delays(
    events: Sequence[QueueEvent], s: Seconds, opens: float, stints: Sequence[Span]
) -> tuple[list[float], dict[str, list[Span]]]:
    """How long free counters took to call somebody who was waiting, and each counter's busy
    spans (call to served, no-show or gone)."""
    free_since: dict[str, float] = {}
    at_counter: dict[str, tuple[str, float]] = {}  # counter -> (ticket, called at)
    busy: dict[str, list[Span]] = {}
    delays: list[float] = []
    busy_line = _nonempty_since(stints)
    for e in events:
        if isinstance(e, TicketCalled):
            t, free = s(e.at), free_since.get(e.counter, opens)
            began = busy_line[bisect.bisect_right(busy_line, t) - 1] if busy_line else t
            delays.append(t - max(free, min(began, t)))
            at_counter[e.counter] = (e.ticket_id, t)
            busy.setdefault(e.counter, [])
        elif isinstance(e, TicketServed | TicketNoShow | TicketCancelled | TicketTransferredOut):
            counter = getattr(e, "counter", None) or next(
                (c for c, (tid, _) in at_counter.items() if tid == e.ticket_id), None
            )
            held = at_counter.get(counter or "")
            if counter is None or held is None or held[0] != e.ticket_id:
                continue
            del at_counter[counter]
            free_since[counter] = s(e.at)
            busy[counter].append((held[1], s(e.at)))
    return delays, busy


def _nonempty_since(stints: Sequence[Span]) -> list[float]:
    """The moments the line went from empty to not empty, in order."""
    changes = sorted(
        [(a, 1) for a, _ in stints] + [(b, -1) for _, b in stints], key=lambda c: (c[0], c[1])
    )
    starts: list[float] = []
    size = 0
    for t, step in changes:
        if size == 0 and step > 0:
            starts.append(t)
        size += step
    return starts


# Rounding room for the index's bounds (seconds): a spell it skips is surely outside them.
_SLACK_S = 1e-6


class _Spells:
    """The line's waiting spells (begin, end), sorted, indexed for `off_from`: the running
    furthest end says which first ones end too soon to matter, the begins where to stop."""

    def __init__(self, stints: Sequence[Span]) -> None:
        self.stints = sorted(stints)
        self.reach = list(itertools.accumulate((end for _, end in self.stints), max))

    def off_from(self, a: float, b: float, break_after: float) -> float | None:
        """When a free counter stopped working in the gap a..b: the earliest moment somebody
        who then waited `break_after` or more in that gap was waiting; None if nobody did."""
        # Such a spell ends at break_after past a or later, and begins break_after before b
        # or earlier; the first one found in begin order is the earliest.
        first = bisect.bisect_left(self.reach, a + break_after - _SLACK_S)
        last_begin = b - break_after + _SLACK_S
        for x, y in itertools.islice(self.stints, first, None):
            if x > last_begin:
                break
            if min(y, b) - max(x, a) >= break_after:
                return max(a, x)
        return None


def _shifts(
    busy: Sequence[Span],
    spells: _Spells,
    opens: float,
    closes: float,
    break_after: float,
    usual: float,
) -> tuple[Span, ...]:
    """When one counter was working, from its busy spans and the line's waiting spells.

    A working counter that gets free calls again unless its shift is over: so a shift ended
    between the counter's last call and the moment it got free; it is taken to end halfway."""
    spans: list[Span] = []
    start = free = last = opens
    for n, (call, freed) in enumerate(busy):
        if spells.off_from(free, call, break_after) is not None:
            if n and last > start:
                spans.append((start, last))
            start = max(call - usual, free)
        free, last = freed, (call + freed) / 2.0
    end = max(closes, free)
    if busy and spells.off_from(free, end, break_after) is not None:
        end = last
    if busy and end > start:
        spans.append((start, end))
    return tuple(spans)


def _after_call(events: Sequence[QueueEvent], kind: type, s: Seconds) -> list[float]:
    """For each event of `kind`, how long after its ticket's latest call it came."""
    called: dict[str, float] = {}
    found: list[float] = []
    for e in events:
        if isinstance(e, TicketCalled):
            called[e.ticket_id] = s(e.at)
        elif isinstance(e, kind):
            at = called.get(getattr(e, "ticket_id", ""))
            if at is not None:
                found.append(s(e.at) - at)
    return found


def _spread(values: Sequence[float]) -> tuple[float, float]:
    """(P5, P95) of `values` (not empty)."""
    ordered = sorted(values)
    last = len(ordered) - 1
    return ordered[round(0.05 * last)], ordered[round(0.95 * last)]
