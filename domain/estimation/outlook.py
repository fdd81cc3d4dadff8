"""From a queue's state and its learned signals to the projection of one ticket's wait.

Cost: O(classes x log n + types x log n) for the counts ahead (bisection in sorted lines), O(c)
per grid step for the counters, O(slots) for the rota; nothing walks the line. The estimators
ask through `estimate_inputs` and `projected_wait`, which keep each projection in the signals
until the next event.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.estimation.breaks import Breaks, break_window, without_break
from domain.estimation.counters import Busy, CounterBoard, CounterInfo
from domain.estimation.profiles import SLOT_SECONDS, SlotKey, next_slot, previous_slot, slot_of
from domain.estimation.projection import HORIZON, CounterPath, Outlook, WaitDistribution
from domain.estimation.signals import UNTYPED, QueueSignals
from domain.estimation.stats import LogHistogram
from domain.hours import parse_hhmm
from domain.state import QueueState, TicketState, line_key

# Slots ahead for which the rota and arrival profiles are read (the horizon).
SLOTS_AHEAD = int(HORIZON // SLOT_SECONDS) + 2
# Service-time observations needed before the time already served is used on its own.
ENOUGH = 20
# Projections kept between two events (one per estimator asking about the same ticket suffices).
CACHE_MAX = 8


# The id of the hypothetical ticket a newcomer would get, with its class (real ids are UUIDs).
NEWCOMER_ID = "newcomer"


def estimate_inputs(
    signals: QueueSignals,
    state: QueueState,
    ticket_id: str,
    at: datetime | None,
    newcomer: TicketState | None = None,
) -> tuple[Outlook, WaitDistribution, datetime] | None:
    """What every estimator starts from: the outlook and projected wait of `ticket_id` (or of
    the hypothetical `newcomer`) at `at` (default: the last event's time), and that time;
    None unless it is waiting."""
    ticket = newcomer if newcomer is not None else state.tickets.get(ticket_id)
    now = at or signals.last_at
    if ticket is None or ticket.status != "waiting" or now is None:
        return None
    view, wait = projected_wait(signals, state, ticket, now)
    return view, wait, now


def newcomer(state: QueueState, priority: str, at: datetime) -> TicketState:
    """The ticket somebody joining now in `priority` would get: at the back of its class (its
    id names the class, so projections kept per ticket and time never mix two classes)."""
    return TicketState(
        ticket_id=f"{NEWCOMER_ID}:{priority}",
        number="",
        daily_number=0,
        seq=state.next_seq,
        priority=priority,
        service_type=None,
        channel="",
        personal=None,
        enqueued_at=at,
        order_at=at,
        class_since=at,
    )


def projected_wait(
    signals: QueueSignals, state: QueueState, ticket: TicketState, at: datetime
) -> tuple[Outlook, WaitDistribution]:
    """The outlook and projected wait of a waiting ticket (kept in `signals` until the next
    event, so estimators sharing these signals project once; a few at most, so estimating a
    whole line between two events holds no line's worth of projections)."""
    key = (ticket.ticket_id, at)
    found = signals.projections.get(key)
    if found is None:
        if len(signals.projections) >= CACHE_MAX:
            signals.projections.clear()
        view = outlook(signals, state, ticket, at)
        found = signals.projections[key] = (view, view.project())
    return found


@dataclass(frozen=True, slots=True)
class _Slots:
    """The coming slots: their keys, their start (seconds from now), whether the queue is open."""

    keys: list[SlotKey]
    starts: list[float]
    open: list[bool]
    into: float  # seconds into the current slot


# The slots, and per counter: whether it waits idle for people to arrive, its path, open now.
_Coming = tuple[_Slots, list[tuple[bool, CounterPath, bool]]]


def _slots(signals: QueueSignals, state: QueueState, at: datetime) -> _Slots:
    weekday, slot, into = slot_of(state.config.timezone, at)
    keys = [(weekday, slot)]
    for _ in range(SLOTS_AHEAD):
        keys.append(next_slot(keys[-1]))
    first = SLOT_SECONDS - into
    starts = [0.0] + [first + SLOT_SECONDS * k for k in range(SLOTS_AHEAD)]
    closed = state.status == "closed"
    is_open = [not closed and _open_slot(state, signals.open_slots, k) for k in keys]
    return _Slots(keys, starts, is_open, into)


def _open_slot(state: QueueState, cache: dict[SlotKey, bool], key: SlotKey) -> bool:
    found = cache.get(key)
    if found is not None:
        return found
    hours = state.config.opening_hours
    minute = key[1] * SLOT_SECONDS // 60
    result = not hours
    for interval in hours:
        opens, closes = parse_hhmm(interval.opens), parse_hhmm(interval.closes)
        if interval.weekday == key[0] and opens is not None and closes is not None:
            result = result or opens <= minute < closes
    cache[key] = result
    return result


# How a counter's next call comes ---------------------------------------------------------------


def _release_after(
    histogram: LogHistogram, elapsed: float, gap: float, fallback: float
) -> Callable[[float], float]:
    """P(a busy counter has come free and called again by x), given `elapsed` so far."""
    alive = histogram.survival(elapsed)
    if alive <= 1e-4:  # longer than anything seen: expect it to end soon-ish
        return lambda x: 1.0 - math.exp(-max(x - gap, 0.0) / fallback)
    survival = histogram.survival  # (evaluated at every step of every projection)
    return lambda x: 1.0 - survival(elapsed + (x - gap if x > gap else 0.0)) / alive


def _release_called(
    signals: QueueSignals, busy: Busy, elapsed: float, gap: float, fallback: float
) -> Callable[[float], float] | None:
    """A called person who has not reached the counter yet: either still walking up, or not
    coming (then the counter waits out its no-show timeout). The longer nobody has come, the
    likelier the second; None when there is too little history to tell."""
    walk, timeout = signals.walk, signals.no_show_wait
    serving = signals.service.get(busy.service_type)
    share = signals.abandonment.called_share(busy.ticket_id)
    if share is None or serving is None or walk.total < ENOUGH or timeout.total < 5:
        return None
    walking = walk.survival(elapsed)
    absent = share / (share + (1.0 - share) * walking) if share + walking > 0 else 1.0
    waiting_out = _release_after(timeout, elapsed, gap, fallback)
    left = walk.mean_residual(elapsed) if walking > 1e-3 else None
    service = _release_after(serving, 0.0, gap + (left or 0.0), fallback)
    return lambda x: absent * waiting_out(x) + (1.0 - absent) * service(x)


def _release_busy(
    signals: QueueSignals, busy: Busy, at: datetime, fallback: float
) -> Callable[[float], float]:
    gap = signals.call_gap()
    serving = signals.service.get(busy.service_type)
    if busy.started is not None and serving is not None and serving.total >= ENOUGH:
        # The person is at the counter: only the service itself is left.
        elapsed = max((at - busy.started).total_seconds(), 0.0)
        return _release_after(serving, elapsed, gap, fallback)
    elapsed = max((at - busy.since).total_seconds(), 0.0)
    release = _release_called(signals, busy, elapsed, gap, fallback)
    if release is not None:
        return release
    histogram = signals.occupation.get(busy.service_type) or signals.all_types
    return _release_after(histogram, elapsed, gap, fallback)


def _release_idle(gap: float, spread: float) -> Callable[[float], float]:
    """An idle open counter calls after about the usual gap (spread over 0.3 to 1.7 gaps; calls
    that came back to back, a gap of zero, still spread over `spread`: a small part of a call)."""
    low, width = 0.3 * gap, max(1.4 * gap, spread, 1e-3)
    return lambda x: min(max((x - low) / width, 0.0), 1.0)


def _level(
    board: CounterBoard,
    info: CounterInfo,
    open_now: bool,
    deviation: tuple[float, float],
    slots: _Slots,
) -> Callable[[int], float]:
    memo: dict[int, float] = {0: 1.0 if open_now else 0.0}

    # A loop, not a call of itself: a closure that names itself is a reference cycle, garbage
    # only the collector's passes free (once per counter per projection: 2,000 a second made
    # the worker's full passes 56-365 ms long, the event loop stopped).
    def level(k: int) -> float:
        found = memo.get(k)
        if found is not None:  # nearly every call: nothing to walk
            return found
        walked: list[int] = []
        while found is None and (k >= len(slots.keys) or not slots.open[k]):
            walked.append(k)  # after hours the counters of the close serve on
            k -= 1
            found = memo.get(k)
        if found is None:
            found = memo[k] = board.level(info, open_now, slots.keys[k], slots.starts[k], deviation)
        for index in walked:
            memo[index] = found
        return found

    return level


def _coming(signals: QueueSignals, state: QueueState, at: datetime) -> _Coming:
    """The coming slots and every counter's path from `at`: the first projection at `at` makes
    them, the others until the next event (the newcomer's, a joining ticket's) share them."""
    found: _Coming | None = signals.paths.get(at)
    if found is None:
        slots = _slots(signals, state, at)
        found = signals.paths[at] = (slots, _every_path(signals, at, slots, state.breaks))
    return found


def _paths(
    signals: QueueSignals, every: list[tuple[bool, CounterPath, bool]], ahead: int
) -> tuple[list[CounterPath], int]:
    """Each counter's expected calls from now on, and how many are open now.

    Counters that were idle before the line formed are woken one per arrival (the one idle
    longest takes the newcomer): only as many as there are people up to this ticket call them;
    the others wait for later arrivals and call nobody ahead of it. (Counting each idle counter
    as about to call would make the first call the quickest of several reactions, where it is
    one: at a gate whose whole wait is that reaction, half of it.)"""
    paths: list[CounterPath] = []
    open_now = 0
    waking = ahead + 1  # idle counters the people up to this ticket wake, one each
    for waiting_for_people, path, is_open in every:
        if waiting_for_people and waking <= 0:
            continue  # woken by somebody behind this ticket, if at all
        waking -= waiting_for_people
        open_now += is_open
        paths.append(path)
    if open_now == 0 and not signals.board.known():
        # No rota learned yet and nobody serving: assume somebody will, soon.
        scale = signals.all_types.mean()
        paths.append(CounterPath(_release_idle(signals.call_gap(), 0.02 * scale), lambda k: 1.0))
        open_now = 1
    return paths, open_now


def _every_path(
    signals: QueueSignals, at: datetime, slots: _Slots, breaks: Breaks
) -> list[tuple[bool, CounterPath, bool]]:
    """Per counter: whether it waits, idle, for people to arrive; its path; whether it is open
    now (the same for every ticket: which of the waiting ones a ticket wakes is `_paths`').
    A counter on a break staff announced calls nobody until it is due back, then calls as an
    open counter does; a planned break takes its share out of the slots it covers."""
    board = signals.board
    now_key = slots.keys[0]
    since = signals.line_since
    slot_start = at - timedelta(seconds=slots.into)
    # With people already waiting unserved, no idle counter is about to call them.
    grace = board.grace
    fresh_line = since is None or (at - since).total_seconds() <= grace
    cold = not board.known() and all(
        i.busy is None and i.idle_since is None for i in board.counters.values()
    )
    gap = signals.call_gap()
    scale = signals.all_types.mean()
    fallback = 0.25 * max(scale, 1e-3)
    spread = 0.02 * scale
    every: list[tuple[bool, CounterPath, bool]] = []
    for info in board.counters.values():
        release: Callable[[float], float] | None
        window = break_window(breaks, info.name, at, board.memory())
        if window is not None and window[0] <= 0:  # away on a break now (or just due back)
            release = None if info.busy is None else _release_busy(signals, info.busy, at, fallback)
            back = _level(board, info, True, (0.0, 0.0), slots)  # as an open counter, after
            every.append(
                (False, CounterPath(release, without_break(back, slots.starts, window)), False)
            )
            continue
        waiting_for_people = (
            info.busy is None
            and not info.closed
            and info.idle_since is not None
            and since is not None
            and info.idle_since <= since
        )
        usual = board.usual(info, now_key)
        if info.busy is not None:
            release = _release_busy(signals, info.busy, at, fallback)
            # Serving past the end of its rota: this release calls nobody.
            is_open = not board.finishing(info, now_key, slot_start)
        elif info.closed:
            is_open, release = False, None
        elif (
            info.idle_since is not None
            and since is not None
            and (at - max(info.idle_since, since)).total_seconds() <= grace
            and (usual is None or usual >= 0.5)
        ):
            # Just came free (or somebody just arrived) and its rota goes on: a call is under
            # way. (Free just as its rota ends: it is leaving.)
            is_open, release = True, _release_idle(gap, spread)
        else:
            # Not seen today and no rota for it (a new queue's first hour, a desk just added):
            # there, as on a cold start, until people wait with nobody calling them.
            unseen = usual is None and info.idle_since is None and info.name not in board.seen_today
            is_open = (cold or unseen or board.open_now(info, at, now_key)) and fresh_line
            release = _release_idle(gap, spread) if is_open else None
        deviation = board.deviation(info, is_open, now_key, at, slot_start)
        level = _level(board, info, is_open, deviation, slots)
        path = CounterPath(
            release, level if window is None else without_break(level, slots.starts, window)
        )
        every.append((waiting_for_people, path, is_open))
    return every


def _inflow(
    signals: QueueSignals, state: QueueState, ticket: TicketState, slots: _Slots
) -> Callable[[int], float]:
    """Arrivals per second, in slot k, of the classes that will be called before the ticket."""
    recorder = signals.recorder
    higher = [
        p
        for p in state.config.priority_classes[: state.ranks.get(ticket.priority, 0)]
        if recorder.seen(p)
    ]
    rates: dict[int, float] = {}

    def inflow(k: int) -> float:
        found = rates.get(k)
        if found is None:
            found = 0.0
            if higher and k < len(slots.keys) and slots.open[k]:
                # Neighbouring slots smooth the counts of rare (higher-priority) arrivals.
                key = slots.keys[k]
                near = ((0.5, key), (0.25, previous_slot(key)), (0.25, next_slot(key)))
                found = sum(w * recorder.rate(p, s) for p in higher for w, s in near)
            rates[k] = found
        return found

    return inflow


def outlook(signals: QueueSignals, state: QueueState, ticket: TicketState, at: datetime) -> Outlook:
    key = line_key(state, ticket)
    ahead: int = state.waiting.bisect_left(key)
    by_type = signals.ahead_by_type(key)
    counted = sum(by_type.values())
    if counted:
        served = sum(n * signals.served_cost(t) for t, n in by_type.items()) / counted
    else:
        served = signals.served_cost(ticket.service_type or UNTYPED)
    slots, every = _coming(signals, state, at)
    paths, open_now = _paths(signals, every, ahead)
    # Abandonment depends on the wait, so take a rough look at it first: those ahead will have
    # waited about as long as this ticket when they are called (a steady line), and those who
    # gave up without cancelling are cheap no-shows then.
    joined = signals.since.get(ticket.ticket_id, at)
    waited = max((at - joined).total_seconds(), 0.0)
    rough = (ahead + 1) * served / max(open_now, 1)
    abandonment = signals.abandonment
    no_show = abandonment.no_show_share(waited + rough)
    cost = (1.0 - no_show) * served + no_show * (signals.no_show() + signals.call_gap())
    alive = abandonment.survival(waited + rough / 2)
    leaving = 1.0 - abandonment.survival(waited + rough) / alive if alive > 0 else 0.0
    span = max(rough, 1.0)

    def staying(x: float) -> float:
        return ahead * (1.0 - leaving * min(x / span, 1.0))

    return Outlook(
        ahead=ahead,
        open_now=open_now,
        paths=tuple(paths),
        call_cost=cost,
        cv2=signals.cv2(),
        staying=staying,
        lag=signals.lag(),
        inflow=_inflow(signals, state, ticket, slots),
        first_slot=slots.starts[1],
    )
