"""Which counters are open, now and usually: a rota learned from calls and completions.

There is no "counter opened" event. What the rota records is whether a counter takes the next
person when it comes free, and that is only known later: it does (it called within IDLE_GRACE
of somebody waiting) or it did not (people waited and it did not call, or counters idle for less
long took the newcomers: a break). So a service and the idle spell after it are credited to the
counter's rota once resolved: both as open if it went on calling; if it went on a break, the
first half of that last service (its rota ended between that call and its end). Each local
day's open seconds per 15-minute slot are folded into a profile per counter (weekday, pooled).

An estimate then reads, per counter, whether it is open now and the chance it is open in each
coming slot: a counter that usually goes off at a given slot is expected to go; one that departs
from its rota today (absent all morning, late from lunch) is expected to keep departing for as
long as it already has (at least AWAY_GRACES idle graces), then to return to its rota.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from domain.config import OpeningHours, QueueConfig
from domain.estimation.profiles import (
    SLOT_SECONDS,
    SLOTS_PER_DAY,
    Profile,
    SlotKey,
    previous_slot,
)
from domain.hours import parse_hhmm, zone

# A counter idle this long while people wait is on a break (or closed): the board's `grace`
# starts here and follows the queue's own pace (`QueueSignals.grace`: gaps and service times).
IDLE_GRACE = 120.0
# An idle spell with nobody waiting is credited as open for at most this long.
IDLE_OPEN = 1800.0
# Passed over this often by counters idle for less long, an idle counter is taken to be away.
PASSED_OVER = 2
# The least time a departure from the rota (a counter off that is usually on, or away with no
# rota learned yet) is expected to last, in idle graces: about half an hour at a desk whose
# calls take minutes, a minute and a half at a gate whose calls take seconds.
AWAY_GRACES = 15.0


@dataclass(slots=True)
class Busy:
    ticket_id: str
    since: datetime  # called
    service_type: str
    started: datetime | None = None  # the person arrived and service began


@dataclass(slots=True)
class CounterInfo:
    name: str
    busy: Busy | None = None
    idle_since: datetime | None = None  # free since (None: not seen today)
    closed: bool = False  # the idle spell is known to be a break
    open_since: datetime | None = None  # serving without a break since
    served: tuple[datetime, datetime] | None = None  # the last service, not yet credited
    passed: int = 0  # times another counter, idle for less long, took the next person
    today: dict[int, float] = field(default_factory=dict)  # slot -> open seconds
    rota: Profile = field(default_factory=Profile)


def _slot_index(local: datetime) -> int:
    return (local.hour * 3600 + local.minute * 60 + local.second) // SLOT_SECONDS


def _slices(timezone: str, start: datetime, end: datetime) -> Iterator[tuple[int, float]]:
    """(slot, seconds) of [start, end) on local slots (callers keep spans within a day)."""
    tz = zone(timezone)
    t = start
    while t < end:
        local = t.astimezone(tz)
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        slot = int(second // SLOT_SECONDS)
        step = min(end, t + timedelta(seconds=SLOT_SECONDS * (slot + 1) - second))
        if step <= t:  # rounding at a boundary
            step = t + timedelta(microseconds=1)
        yield slot, (step - t).total_seconds()
        t = step


class CounterBoard:
    def __init__(self) -> None:
        self.counters: dict[str, CounterInfo] = {}
        self.timezone = "UTC"
        self.hours: tuple[OpeningHours, ...] = ()
        self.day: date | None = None
        self.weekday = 0
        self.day_start: datetime | None = None  # the first event of the local day
        self.seen_today: set[str] = set()  # counters that called today
        self.active_slots: set[int] = set()
        self.grace = IDLE_GRACE

    def _local(self, at: datetime) -> datetime:
        return at.astimezone(zone(self.timezone))

    def info(self, name: str) -> CounterInfo:
        found = self.counters.get(name)
        if found is None:
            found = self.counters[name] = CounterInfo(name)
        return found

    def _credit(self, info: CounterInfo, start: datetime, end: datetime) -> None:
        for slot, seconds in _slices(self.timezone, start, end):
            info.today[slot] = info.today.get(slot, 0.0) + seconds
            self.active_slots.add(slot)

    # Time passing ---------------------------------------------------------------------------

    def configure(self, config: QueueConfig) -> None:
        self.timezone = config.timezone
        self.hours = config.opening_hours
        for name in config.counters:
            self.info(name)  # known from the start: a day it never opens is a day of zeros

    def open_slots(self, weekday: int) -> set[int]:
        slots: set[int] = set()
        for interval in self.hours:
            opens, closes = parse_hhmm(interval.opens), parse_hhmm(interval.closes)
            if interval.weekday == weekday and opens is not None and closes is not None:
                first = opens * 60 // SLOT_SECONDS
                last = (closes * 60 - 1) // SLOT_SECONDS
                slots.update(range(first, last + 1))
        return slots

    def advance(self, at: datetime, line_since: datetime | None) -> None:
        """Move to `at`: a new local day folds yesterday into the rotas; idle counters that
        ignored people waiting are resolved as on a break."""
        local = self._local(at)
        if self.day is None:
            self.day, self.weekday, self.day_start = local.date(), local.weekday(), at
        elif local.date() > self.day:
            self._end_day(at, self.open_slots(self.weekday))
            self.day, self.weekday, self.day_start = local.date(), local.weekday(), at
            self.seen_today = set()
        if line_since is None:
            return
        for info in self.counters.values():
            idle_since = info.idle_since
            if info.busy is not None or info.closed or idle_since is None:
                continue
            if (at - max(idle_since, line_since)).total_seconds() > self.grace:
                info.closed = True  # people waited and it did not call
                self._last_service(info)

    def _end_day(self, at: datetime, open_slots: set[int]) -> None:
        local = self._local(at)
        midnight = datetime.combine(local.date(), datetime.min.time(), local.tzinfo)
        for info in self.counters.values():
            if info.busy is not None:
                self._credit(info, info.busy.since, midnight)
                info.busy.since = midnight
            elif info.idle_since is not None and not info.closed:
                until = min(info.idle_since + timedelta(seconds=IDLE_OPEN), midnight)
                self._credit(info, info.idle_since, until)
                if info.served is not None:
                    self._credit(info, *info.served)
            info.served = None
            if info.busy is None:
                info.idle_since, info.closed, info.open_since = None, False, None
        slots = self.active_slots | open_slots
        key_day = self.weekday
        for info in self.counters.values():
            for slot in slots:
                share = min(info.today.get(slot, 0.0) / SLOT_SECONDS, 1.0)
                info.rota.record((key_day, slot), share)
            info.today = {}
        self.active_slots = set()

    # Calls and completions --------------------------------------------------------------------

    def called(
        self,
        name: str,
        ticket_id: str,
        service_type: str,
        at: datetime,
        line_since: datetime | None,
    ) -> float | None:
        """A call at `name`; returns the gap since it came free, when people were waiting."""
        info = self.info(name)
        self.seen_today.add(name)
        waiting_for = 0.0 if line_since is None else (at - line_since).total_seconds()
        gap = None
        if info.busy is None and info.idle_since is not None:
            if not info.closed:
                start = max(info.idle_since, at - timedelta(seconds=IDLE_OPEN))
                self._credit(info, start, at)
                if info.served is not None:
                    self._credit(info, *info.served)
                if line_since is not None:
                    gap = (at - max(info.idle_since, line_since)).total_seconds()
            if line_since is not None and line_since >= info.idle_since:
                # It was idle when the person came, and took them.
                self._passed_over(info, info.idle_since)
        elif info.busy is None and waiting_for <= self.grace:
            # Its first call today, answering the first people soon after the opening: it was
            # open, waiting, since the opening. (Later first calls say nothing of before.)
            opened = self._opening(at)
            if opened is not None and (at - opened).total_seconds() <= SLOT_SECONDS:
                self._credit(info, opened, at)
        if info.busy is None and (
            info.closed or info.idle_since is None or info.open_since is None
        ):
            info.open_since = at  # back from a break, or its first call today
        info.busy = Busy(ticket_id, at, service_type)
        info.idle_since, info.closed, info.served, info.passed = None, False, None, 0
        return gap if gap is not None and 0 <= gap <= self.grace else None

    def _passed_over(self, caller: CounterInfo, caller_idle: datetime) -> None:
        """An idle counter calls: those idle for longer were passed over (the longest idle
        counter takes the next person). Passed over twice, a counter is taken to be away."""
        for info in self.counters.values():
            if info is caller or info.busy is not None or info.closed:
                continue
            if info.idle_since is not None and info.idle_since < caller_idle:
                info.passed += 1
                if info.passed >= PASSED_OVER:
                    info.closed = True
                    self._last_service(info)

    def _last_service(self, info: CounterInfo) -> None:
        """The service before a break: its rota ended somewhere between that call (it still
        took people) and its end (it took nobody more). Half of it is credited: unbiased."""
        if info.served is not None:
            start, end = info.served
            self._credit(info, start, start + (end - start) / 2)
            info.served = None

    def _opening(self, at: datetime) -> datetime | None:
        """Today's first opening time, from the opening hours."""
        local = self._local(at)
        weekday = local.weekday()
        starts = [parse_hhmm(h.opens) for h in self.hours if h.weekday == weekday]
        minutes = [m for m in starts if m is not None]
        if not minutes:
            return None
        midnight = datetime.combine(local.date(), datetime.min.time(), local.tzinfo)
        return midnight + timedelta(minutes=min(minutes))

    def freed(self, name: str, ticket_id: str, at: datetime) -> Busy | None:
        """The counter's ticket left it; returns what it was busy with (None if not ours)."""
        info = self.counters.get(name)
        if info is None or info.busy is None or info.busy.ticket_id != ticket_id:
            return None
        busy = info.busy
        info.served = (busy.since, at)
        info.busy, info.idle_since, info.closed, info.passed = None, at, False, 0
        return busy

    # Questions ----------------------------------------------------------------------------

    def usual(self, info: CounterInfo, key: SlotKey) -> float | None:
        return info.rota.value(key)

    def open_now(self, info: CounterInfo, at: datetime, key: SlotKey) -> bool:
        if info.busy is not None:
            return True
        if info.closed:
            return False
        usual = self.usual(info, key)
        if usual is not None:
            return usual >= 0.5
        return info.idle_since is not None and (at - info.idle_since).total_seconds() <= IDLE_OPEN

    def finishing(self, info: CounterInfo, now_key: SlotKey, slot_start: datetime) -> bool:
        """Busy past the end of its rota: serving a last ticket, then gone (not a departure)."""
        usual_now = self.usual(info, now_key)
        if info.busy is None or usual_now is None or usual_now >= 0.5:
            return False
        return info.busy.since < self._stretch(info, now_key, slot_start, False)

    def _stretch(self, info: CounterInfo, key: SlotKey, slot_start: datetime, on: bool) -> datetime:
        """When the rota last switched to its current state (on or off), looking back a day."""
        start = slot_start
        for _ in range(SLOTS_PER_DAY):
            key = previous_slot(key)
            usual = self.usual(info, key)
            if usual is None or (usual >= 0.5) != on:
                break
            start -= timedelta(seconds=SLOT_SECONDS)
        return start

    def deviation(
        self,
        info: CounterInfo,
        now_open: bool,
        now_key: SlotKey,
        at: datetime,
        slot_start: datetime,
    ) -> tuple[float, float]:
        """(today's departure from the rota now, how long it is expected to last).

        A departure that has lasted a while is expected to last as long again (a counter
        nobody staffed all morning stays empty; one that is late from lunch comes back soon).
        """
        usual_now = self.usual(info, now_key)
        if usual_now is None:
            if not now_open and info.name in self.seen_today and info.idle_since is not None:
                # No rota yet (a new queue) and away after serving today: a break, expected to
                # last as long again as it has (at least AWAY_GRACES graces), then over.
                away = (at - info.idle_since).total_seconds()
                return 1.0, max(away, self.memory())
            return 0.0, 0.0
        if not now_open and info.name not in self.seen_today:
            missed = self._missed_today(info, now_key)
            if missed >= self.memory():  # nobody came to it today though its rota said so
                return -1.0, max((at - (self.day_start or at)).total_seconds(), self.memory())
        deviation = (1.0 if now_open else 0.0) - usual_now
        if abs(deviation) < 0.5:
            return 0.0, 0.0  # today follows the rota
        if now_open:
            since = info.open_since or (info.busy.since if info.busy else at)
        else:
            since = info.idle_since or self.day_start or at
        since = max(since, self._stretch(info, now_key, slot_start, usual_now >= 0.5))
        return deviation, max((at - since).total_seconds(), self.memory())

    def memory(self) -> float:
        """The least seconds a departure from the rota is expected to last."""
        return AWAY_GRACES * self.grace

    def _missed_today(self, info: CounterInfo, now_key: SlotKey) -> float:
        """Seconds its rota expected it open today before the current slot (it never came)."""
        if self.day_start is None:
            return 0.0
        start_key = (self.weekday, _slot_index(self._local(self.day_start)))
        key, total = now_key, 0.0
        while key != start_key and key[1] > 0:
            key = previous_slot(key)
            total += (self.usual(info, key) or 0.0) * SLOT_SECONDS
        return total

    def level(
        self,
        info: CounterInfo,
        now_open: bool,
        key: SlotKey,
        ahead: float,
        deviation: tuple[float, float],
    ) -> float:
        """Chance the counter is open in slot `key`, `ahead` seconds from now."""
        usual = self.usual(info, key)
        shift, memory = deviation
        if usual is None:
            if now_open:
                return 1.0
            return shift * (1.0 - math.exp(-ahead / memory)) if shift > 0 else 0.0
        if shift:
            usual += shift * math.exp(-ahead / memory)
        return min(max(usual, 0.0), 1.0)

    def known(self) -> bool:
        return any(info.rota.pooled for info in self.counters.values())
