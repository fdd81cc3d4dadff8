"""How people leave as their wait grows, learned from the events.

Two habits, both growing with the wait: cancelling while in line (a hazard per waiting second,
by wait bucket: each ticket that leaves the line adds its waiting time to the buckets it went
through, and its cancellation, if it was one, to the bucket it ended in) and not showing up when
called (a share of the calls, by the wait at call: people who walked away without cancelling
turn into no-shows). A long line thus needs fewer calls, and cheaper ones, than its length says.
Counts fade per observation so habits that change are followed. O(buckets) per ticket.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

# Upper edges of the wait buckets, seconds (the last bucket is open-ended).
WAIT_EDGES: tuple[float, ...] = (
    60,
    120,
    300,
    600,
    900,
    1200,
    1800,
    2700,
    3600,
    5400,
    7200,
    10800,
    14400,
)
BUCKETS = len(WAIT_EDGES) + 1
FADE = 0.998
# Pseudo-observations pulling a thin bucket towards the bucket before it (long waits are rare,
# and what holds for a shorter wait is the best guess for a longer one until data says more).
PRIOR_EXPOSURE = 900.0
PRIOR_CALLS = 8.0


def _bucket(wait: float) -> int:
    return bisect.bisect_right(WAIT_EDGES, wait)


def _bounds(i: int) -> tuple[float, float]:
    low = WAIT_EDGES[i - 1] if i > 0 else 0.0
    high = WAIT_EDGES[i] if i < len(WAIT_EDGES) else math.inf
    return low, high


@dataclass(slots=True)
class Abandonment:
    exposure: list[float] = field(default_factory=lambda: [0.0] * BUCKETS)
    cancels: list[float] = field(default_factory=lambda: [0.0] * BUCKETS)
    calls: list[float] = field(default_factory=lambda: [0.0] * BUCKETS)
    no_shows: list[float] = field(default_factory=lambda: [0.0] * BUCKETS)
    at_counter: dict[str, int] = field(default_factory=dict)  # ticket -> bucket of its wait

    def left_line(self, waited: float, cancelled: bool) -> None:
        """A ticket left the line after `waited` seconds (called, cancelled or transferred)."""
        waited = max(waited, 0.0)  # events out of time order must not make negative exposure
        self.exposure = [e * FADE for e in self.exposure]
        self.cancels = [c * FADE for c in self.cancels]
        for i in range(_bucket(waited) + 1):
            low, high = _bounds(i)
            self.exposure[i] += min(waited, high) - low
        if cancelled:
            self.cancels[_bucket(waited)] += 1.0

    def called(self, ticket_id: str, waited: float) -> None:
        self.at_counter[ticket_id] = _bucket(waited)

    def showed(self, ticket_id: str, present: bool) -> None:
        """The called ticket came (service started or done) or did not (a no-show)."""
        bucket = self.at_counter.pop(ticket_id, None)
        if bucket is None:
            return
        self.calls = [c * FADE for c in self.calls]
        self.no_shows = [n * FADE for n in self.no_shows]
        self.calls[bucket] += 1.0
        if not present:
            self.no_shows[bucket] += 1.0

    def called_share(self, ticket_id: str) -> float | None:
        """The no-show share for a ticket at a counter now, by the wait it had when called."""
        bucket = self.at_counter.get(ticket_id)
        if bucket is None:
            return None
        return self.no_show_share(_bounds(bucket)[0])

    def forget(self, ticket_id: str) -> None:
        self.at_counter.pop(ticket_id, None)

    def survival(self, wait: float) -> float:
        """The share of people still in line (not cancelled) after waiting `wait` seconds."""
        rate = (sum(self.cancels) + 0.5) / (sum(self.exposure) + 8 * 3600.0)  # pooled: a start
        total = 0.0
        for i in range(_bucket(wait) + 1):
            low, high = _bounds(i)
            rate = (self.cancels[i] + PRIOR_EXPOSURE * rate) / (self.exposure[i] + PRIOR_EXPOSURE)
            total += rate * (min(wait, high) - low)
        return math.exp(-total)

    def no_show_share(self, wait: float) -> float:
        """The share of calls after a wait of `wait` that find nobody."""
        share = (sum(self.no_shows) + 0.5) / (sum(self.calls) + 10.0)  # pooled: a start
        for i in range(_bucket(wait) + 1):
            share = (self.no_shows[i] + PRIOR_CALLS * share) / (self.calls[i] + PRIOR_CALLS)
        return share
