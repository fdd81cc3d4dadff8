"""Time-of-day and day-of-week profiles learned from history, in the queue's local time.

A profile cell is one 15-minute slot of one weekday; a pooled cell is the same slot over all
weekdays. A weekday cell is trusted in proportion to how many days filled it, and the pooled
cell (more data, less specific) fills in until then. Values are slot averages, each day's
average blended into the cell exponentially, so a changed rota wins within a few weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.estimation.stats import Ewma
from domain.hours import zone

SLOT_SECONDS = 900
SLOTS_PER_DAY = 86400 // SLOT_SECONDS
# Across weeks for one weekday's slot, and across days for the pooled slot.
WEEKDAY_ALPHA = 0.3
POOLED_ALPHA = 0.2
# A rota's weekday cell outweighs the pooled one after a single day (rotas are weekly).
WEEKDAY_TRUST = 0.3
# Arrival counts of one slot on one day are noisy: a weekday's own rate needs a few weeks.
ARRIVALS_WEEKDAY_TRUST = 4.0
# Today's own rate (the slots closed today, newest weighing most): what a slot with no history
# at all is forecast by (a new queue's first day), instead of no arrivals.
RECENT_ALPHA = 0.5
# A gap longer than this between two events is not integrated slot by slot (a queue idle for a
# month would otherwise cost thousands of steps); the slots in between simply stay unobserved.
MAX_GAP = timedelta(days=3)

SlotKey = tuple[int, int]  # (weekday 0 = Monday, slot of the day)


def slot_of(timezone: str, at: datetime) -> tuple[int, int, float]:
    """(weekday, slot, seconds into the slot) of `at` in local time."""
    local = at.astimezone(zone(timezone))
    second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    slot = int(second // SLOT_SECONDS)
    return local.weekday(), slot, second - slot * SLOT_SECONDS


def next_slot(key: SlotKey) -> SlotKey:
    weekday, slot = key
    if slot + 1 < SLOTS_PER_DAY:
        return weekday, slot + 1
    return (weekday + 1) % 7, 0


def previous_slot(key: SlotKey) -> SlotKey:
    weekday, slot = key
    if slot > 0:
        return weekday, slot - 1
    return (weekday - 1) % 7, SLOTS_PER_DAY - 1


@dataclass(slots=True)
class Profile:
    # How fast a weekday's own cell is trusted over the pooled one: count / (count + this).
    weekday_trust: float = WEEKDAY_TRUST
    cells: dict[SlotKey, Ewma] = field(default_factory=dict)
    pooled: dict[int, Ewma] = field(default_factory=dict)

    def record(self, key: SlotKey, value: float) -> None:
        self.cells.setdefault(key, Ewma(WEEKDAY_ALPHA, value)).add(value)
        self.pooled.setdefault(key[1], Ewma(POOLED_ALPHA, value)).add(value)

    def value(self, key: SlotKey) -> float | None:
        pooled = self.pooled.get(key[1])
        cell = self.cells.get(key)
        if pooled is None:
            return None
        if cell is None:
            return pooled.value
        trust = cell.count / (cell.count + self.weekday_trust)
        return trust * cell.value + (1.0 - trust) * pooled.value

    def days(self, key: SlotKey) -> float:
        pooled = self.pooled.get(key[1])
        return 0.0 if pooled is None else pooled.count


@dataclass(slots=True)
class SlotRecorder:
    """Counts arrivals per class and slot, closing each slot into its profile when time moves
    past it (only event times move time). Slots passed without an event count as quiet."""

    timezone: str
    arrivals: dict[str, Profile] = field(default_factory=dict)
    # Slots of the opening hours by weekday (None: open around the clock). Slots outside them
    # are not recorded unless somebody came: a closed weekend is not a quiet one.
    open_slots: dict[int, set[int]] | None = None
    _key: SlotKey | None = None
    _last: datetime | None = None
    _seconds: float = 0.0
    _counts: dict[str, int] = field(default_factory=dict)
    # The rate of all classes in the slots closed lately, and every closed slot's arrivals by
    # class (see `rate`).
    recent_total: Ewma | None = None
    tally: dict[str, int] = field(default_factory=dict)

    def seen(self, priority: str) -> bool:
        """Whether anybody of `priority` ever arrived (or a slot recorded the class)."""
        return priority in self.arrivals or priority in self._counts

    def rate(self, priority: str, key: SlotKey) -> float:
        """Arrivals per second of `priority` forecast for slot `key`: its profile; for a slot
        never seen (a new queue's first day), the rate of all classes seen lately (the slot under
        way included, counted as at least a third of a slot so the first arrivals of a day do
        not read as a rush) times this class's share of every arrival so far (a rare class's own
        recent count is mostly noise)."""
        profile = self.arrivals.get(priority)
        found = None if profile is None else profile.value(key)
        if found is not None:
            return found
        counts, seconds = sum(self._counts.values()), self._seconds
        if self.recent_total is None:
            total = counts / max(seconds, SLOT_SECONDS / 3)
        else:
            total = (self.recent_total.value * SLOT_SECONDS + counts) / (SLOT_SECONDS + seconds)
        everyone = sum(self.tally.values()) + counts
        mine = self.tally.get(priority, 0) + self._counts.get(priority, 0)
        return total * mine / everyone if everyone else 0.0

    def advance(self, at: datetime) -> None:
        """Time moves to `at`."""
        last = self._last
        self._last = at
        if last is None or at <= last:
            if self._key is None:
                weekday, slot, _ = slot_of(self.timezone, at)
                self._key = (weekday, slot)
            return
        if at - last > MAX_GAP:
            self._close()
            weekday, slot, _ = slot_of(self.timezone, at)
            self._key = (weekday, slot)
            return
        t = last
        while t < at:
            weekday, slot, into = slot_of(self.timezone, t)
            key = (weekday, slot)
            if key != self._key:
                self._close()
                self._key = key
            end = min(at, t + timedelta(seconds=SLOT_SECONDS - into))
            self._seconds += (end - t).total_seconds()
            t = end

    def arrival(self, priority: str) -> None:
        self._counts[priority] = self._counts.get(priority, 0) + 1

    def _close(self) -> None:
        key = self._key
        # Only slots seen whole count (a partly seen slot would read as quiet).
        hours = self.open_slots
        relevant = key is not None and (
            hours is None or key[1] in hours.get(key[0], ()) or any(self._counts.values())
        )
        if key is not None and relevant and self._seconds >= SLOT_SECONDS - 1:
            for priority in set(self.arrivals) | set(self._counts):
                rate = self._counts.get(priority, 0) / SLOT_SECONDS
                self.arrivals.setdefault(priority, Profile(ARRIVALS_WEEKDAY_TRUST)).record(
                    key, rate
                )
                self.tally[priority] = self.tally.get(priority, 0) + self._counts.get(priority, 0)
            total = sum(self._counts.values()) / SLOT_SECONDS
            if self.recent_total is None:
                self.recent_total = Ewma(RECENT_ALPHA, total)
            self.recent_total.add(total)
        self._seconds = 0.0
        self._counts = {}
