"""Unusual arrivals: an alert when a quarter hour brings far more people than that quarter hour of
that weekday usually does.

Pure and fed by events only (their times, in the queue's time zone), so a replay raises the same
alerts. Per weekday and 15-minute slot the watch keeps the counts of the last `KEEP` days the
queue was open then; the usual count is the Poisson rate those days give (a Gamma posterior, so
two days of history are trusted less than eight), and a count is unusual when so many or more
would come by chance less than once in `1 / ALPHA` slots, and is at least `MIN_RATIO` times the
usual and `MIN_COUNT` people. The slot under way is judged as people join (an alert comes in the
slot it happens), alone and with the slot before it (a rush that straddles two slots).

One episode, one alert: after an alert the watch stays quiet until `REARM_SLOTS` slots in a row
were below `CALM_RATIO` times the usual, so a rush of an hour is one alert, not four.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.estimation.profiles import SLOT_SECONDS, SlotKey, next_slot, previous_slot, slot_of
from domain.events import QueueClosed, QueueEvent, QueueOpened, TicketEnqueued

ALPHA = 1e-4
MIN_RATIO = 2.0
MIN_COUNT = 6
MIN_DAYS = 3  # past days of that weekday a slot needs before anything there is unusual
KEEP = 8  # past days kept per weekday and slot (two months of that weekday)
REARM_SLOTS = 2
CALM_RATIO = 1.5  # a slot below this times the usual counts towards re-arming
PRIOR_SHAPE = 1.0  # the Gamma prior on a slot's rate: one person, over...
PRIOR_DAYS = 0.5  # ... half a day (weak; the days' counts decide)
MAX_GAP = timedelta(days=3)  # a longer silence is not walked slot by slot


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str  # "arrivals"
    at: datetime
    weekday: int
    slot: int  # of the day (0 = 00:00-00:15)
    count: int  # people so far in the slot (or in it and the one before)
    usual: float  # the usual count of as long a time
    slots: int  # 1, or 2 when the slot and the one before were judged together

    def short(self) -> str:
        """For a text message: how many, in how long, from when (numbers read in any language)."""
        first = (self.slot - self.slots + 1) * SLOT_SECONDS // 60
        return f"{self.count} in {15 * self.slots} min from {first // 60:02d}:{first % 60:02d}"

    def describe(self) -> str:
        first = (self.slot - self.slots + 1) * SLOT_SECONDS // 60
        return (
            f"{self.count} people joined in {15 * self.slots} min from "
            f"{first // 60:02d}:{first % 60:02d}, {self.count / max(self.usual, 0.1):.1f}x the "
            f"usual {self.usual:.1f} at this time of the week"
        )


def tail(count: int, total: float, days: float) -> float:
    """P(N >= count) for the next day's count N, given `total` people over `days` past days:
    the negative binomial predictive of a Poisson rate with a Gamma posterior."""
    r = total + PRIOR_SHAPE
    p = (days + PRIOR_DAYS) / (days + PRIOR_DAYS + 1.0)  # chance of "no arrival" per trial
    # pmf(k) = C(k + r - 1, k) p^r (1 - p)^k, summed below `count` in log space.
    below = 0.0
    log_pmf = r * math.log(p)
    for k in range(count):
        below += math.exp(log_pmf)
        log_pmf += math.log((k + r) / (k + 1)) + math.log(1.0 - p)
    return max(0.0, 1.0 - below)


@dataclass(slots=True)
class ArrivalWatch:
    timezone: str
    history: dict[SlotKey, deque[int]] = field(default_factory=dict)
    _key: SlotKey | None = None
    _count: int = 0
    _open_in_slot: bool = False  # the queue was open at some time in the slot under way
    _open: bool = False
    _previous: tuple[SlotKey, int] | None = None  # the slot before, closed, and its count
    _last: datetime | None = None
    _armed: bool = True
    _calm: int = 0  # slots in a row no longer unusual, since the last alert

    def observe(self, event: QueueEvent) -> Alert | None:
        """Fold one event; an alert if it made the slot under way unusual."""
        self._advance(event.at)
        if isinstance(event, QueueOpened):
            self._open = self._open_in_slot = True
        elif isinstance(event, QueueClosed):
            self._open = False
        elif isinstance(event, TicketEnqueued):
            self._count += 1
            self._open_in_slot = True
            return self._judge(event.at)
        return None

    def usual(self, key: SlotKey) -> tuple[float, int] | None:
        """(people over the days kept, days) for a slot, or None with too few days. The count
        per day is the slot's own, smoothed with the slots either side (weights 1-2-1: a day's
        rate changes smoothly, and a few days of one slot are noisy); the days are the slot's."""
        found = self.history.get(key)
        if found is None or len(found) < MIN_DAYS:
            return None
        weighted = weights = 0.0
        for neighbour, weight in ((previous_slot(key), 1.0), (key, 2.0), (next_slot(key), 1.0)):
            days = self.history.get(neighbour)
            if days:
                weighted += weight * sum(days) / len(days)
                weights += weight
        return weighted / weights * len(found), len(found)

    @staticmethod
    def mean(total: float, days: int) -> float:
        """The usual count of a slot: the posterior mean of its rate."""
        return (total + PRIOR_SHAPE) / (days + PRIOR_DAYS)

    def _judge(self, at: datetime) -> Alert | None:
        if not self._armed or self._key is None:
            return None
        for alert in (self._alone(at), self._with_previous(at)):
            if alert is not None:
                self._armed, self._calm = False, 0
                return alert
        return None

    def _unusual(self, count: int, total: float, days: int) -> bool:
        mean = self.mean(total, days)
        return count >= MIN_COUNT and count >= MIN_RATIO * mean and tail(count, total, days) < ALPHA

    def _alone(self, at: datetime) -> Alert | None:
        assert self._key is not None
        found = self.usual(self._key)
        if found is None or not self._unusual(self._count, *found):
            return None
        return Alert("arrivals", at, *self._key, self._count, self.mean(*found), 1)

    def _with_previous(self, at: datetime) -> Alert | None:
        assert self._key is not None
        if self._previous is None or self._previous[0] != previous_slot(self._key):
            return None
        before, now = self.usual(self._previous[0]), self.usual(self._key)
        if before is None or now is None:
            return None
        count = self._count + self._previous[1]
        # Two slots' totals over the days of the one with fewer days.
        days = min(before[1], now[1])
        total = (before[0] / before[1] + now[0] / now[1]) * days
        if not self._unusual(count, total, days):
            return None
        return Alert("arrivals", at, *self._key, count, self.mean(total, days), 2)

    def _advance(self, at: datetime) -> None:
        weekday, slot, _ = slot_of(self.timezone, at)
        key = (weekday, slot)
        if self._key is None or (self._last is not None and at - self._last > MAX_GAP):
            self._start(key)
        while self._key != key:
            self._close()
            self._key = next_slot(self._key)  # type: ignore[arg-type]
        self._last = at

    def _start(self, key: SlotKey) -> None:
        self._key, self._count, self._previous = key, 0, None
        self._open_in_slot = self._open

    def _close(self) -> None:
        """The slot under way is over: into its history if the queue was open in it (unless it
        was unusual: a rush must not become the usual), and towards re-arming the watch."""
        assert self._key is not None
        if self._open_in_slot:
            found = self.usual(self._key)
            mean = self.mean(*found) if found else 0.0
            if not self._armed:
                calm = self._count < max(CALM_RATIO * mean, MIN_COUNT)
                self._calm = self._calm + 1 if calm else 0
                self._armed = self._calm >= REARM_SLOTS
            if found is None or not self._unusual(self._count, *found):
                self.history.setdefault(self._key, deque(maxlen=KEEP)).append(self._count)
            self._previous = (self._key, self._count)
        else:
            self._previous = None
        self._count = 0
        self._open_in_slot = self._open
