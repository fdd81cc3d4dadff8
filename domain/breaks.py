"""Counters' breaks: staff say when they step away and when they will be back, now or ahead.

The board shows it and the wait estimates count on it: a counter on a break calls nobody until
its `ends_at`, then calls again, instead of being guessed away for as long again as it has been
(domain/estimation/counters.py). A call from a counter on a break ends it (staff came back early).
Only the current or next break of each counter is kept; one that ended is forgotten.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.commands import EndCounterBreak, SetCounterBreak
from domain.errors import Rejected
from domain.events import CounterBreakSet, QueueEvent
from domain.guards import check_counter, invalid
from domain.state import QueueState

# The longest break, and how far ahead one may be planned.
MAX_BREAK = timedelta(hours=12)
MAX_AHEAD = timedelta(hours=24)


def on_break(state: QueueState, counter: str, at: datetime) -> tuple[datetime, datetime] | None:
    """The counter's break under way or to come at `at` (start, end), if any."""
    found = state.breaks.get(counter)
    return found if found is not None and found[1] > at else None


# Deciding -------------------------------------------------------------------------------------


def set_break(state: QueueState, cmd: SetCounterBreak, now: datetime) -> list[QueueEvent]:
    check_counter(state, cmd.counter)
    if cmd.starts_at is not None and cmd.starts_in is not None:
        raise invalid("give starts_at or starts_in_minutes (at most one of the two)")
    if cmd.starts_in is not None and cmd.starts_in < 0:
        raise invalid("starts_in_minutes must not be negative")
    planned = now + timedelta(minutes=cmd.starts_in) if cmd.starts_in else cmd.starts_at
    starts = max(planned or now, now)  # a break said to have begun already begins now
    if (cmd.ends_at is None) == (cmd.minutes is None):
        raise invalid("give ends_at or minutes (one of the two)")
    ends = cmd.ends_at if cmd.ends_at is not None else starts + timedelta(minutes=cmd.minutes or 0)
    if ends <= starts:
        raise invalid("ends_at must be after the break starts (and after now)")
    if ends - starts > MAX_BREAK:
        raise invalid(f"a break lasts at most {MAX_BREAK.total_seconds() / 3600:.0f} hours")
    if starts - now > MAX_AHEAD:
        raise invalid(f"a break is planned at most {MAX_AHEAD.total_seconds() / 3600:.0f} h ahead")
    return [CounterBreakSet(counter=cmd.counter, starts_at=starts, ends_at=ends, at=now)]


def end_break(state: QueueState, cmd: EndCounterBreak, now: datetime) -> list[QueueEvent]:
    """Back early, or a planned break dropped."""
    check_counter(state, cmd.counter)
    if on_break(state, cmd.counter, now) is None:
        raise Rejected(
            "invalid-transition", f"counter {cmd.counter!r} has no break under way or planned"
        )
    return [CounterBreakSet(counter=cmd.counter, starts_at=now, ends_at=now, at=now)]


# Folding --------------------------------------------------------------------------------------


def break_set(state: QueueState, event: CounterBreakSet) -> None:
    _forget_ended(state, event.at)
    if event.ends_at > event.starts_at:
        state.breaks[event.counter] = (event.starts_at, event.ends_at)
    else:
        state.breaks.pop(event.counter, None)


def called_at(state: QueueState, counter: str, at: datetime) -> None:
    """A call from `counter`: a break of it under way (or over) ends; a planned one stays."""
    found = state.breaks.get(counter)
    if found is not None and found[0] <= at:
        del state.breaks[counter]


def _forget_ended(state: QueueState, at: datetime) -> None:
    for counter in [c for c, (_, ends) in state.breaks.items() if ends <= at]:
        del state.breaks[counter]
