"""What the events say about a queue's capacity, learned online: the inputs of every estimator.

* Per service type, how long a call occupies a counter (call to served, no-show or cancel): a
  fading log-histogram, primed with the queue's configured `mean_service_seconds` (cold start);
  and how long a service lasts once the person is at the counter (for a service under way).
* The gap between a counter coming free and its next call while people wait.
* The counters: busy, idle or on a break now, and each one's rota by slot (`counters`).
* Arrivals per class per local 15-minute slot and weekday (`profiles`): the later,
  higher-priority arrivals that will still jump ahead of a waiting ticket.
* Abandonment by wait: cancelling while in line, not showing up when called (`abandonment`).
* Per service type, the mean occupation of calls that were answered, and of no-shows.
* Per service type, the waiting line as sorted line keys: the types ahead of a ticket are
  counted by bisection, never by walking the line.

Every update is O(1), O(log n) or O(bins + counters); only the events' `at` moves time.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sortedcontainers import SortedList

from domain.config import QueueConfig
from domain.estimation.abandonment import Abandonment
from domain.estimation.counters import CounterBoard
from domain.estimation.profiles import SlotKey, SlotRecorder
from domain.estimation.projection import Outlook, WaitDistribution
from domain.estimation.renewal import Lag, renewal_lag
from domain.estimation.stats import Ewma, LogHistogram
from domain.events import (
    AppointmentCheckedIn,
    QueueCreated,
    QueueEvent,
    QueueReconfigured,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketPriorityChanged,
    TicketPromoted,
    TicketReturned,
    TicketServed,
    TicketTransferredIn,
    TicketTransferredOut,
)
from domain.state import LineKey, QueueState, line_key

# Occupation histograms forget with this factor per call (~ the last few hundred calls).
HISTOGRAM_DECAY = 0.995
# Weight of the cold-start guess in a fresh histogram (a few calls' worth; it gives way to data).
PRIOR_WEIGHT = 3.0
# The guess: the configured mean service time, as a typically skewed log-normal (sigma 0.5);
# with none configured, a neutral one: a median of two minutes spread so wide (sigma 1.5: 95 %
# between 6 s and 40 min) that the first services decide the scale.
CONFIGURED_SIGMA = 0.5
NEUTRAL_MEDIAN = 120.0
NEUTRAL_SIGMA = 1.5
# A counter idle while people wait is taken to be on a break after this many usual gaps
# between coming free and calling, or this share of a usual call, whichever is longer.
GRACE_GAPS = 10.0
GRACE_SHARE = 0.25
UNTYPED = ""
# Calls after which the renewal lag is recomputed (it is O(grid^2), and moves slowly).
LAG_REFRESH = 50


class QueueSignals:
    def __init__(self) -> None:
        self.config: QueueConfig | None = None
        self.occupation: dict[str, LogHistogram] = {}  # call to leaving the counter
        self.service: dict[str, LogHistogram] = {}  # service start to its end
        self.walk = LogHistogram(HISTOGRAM_DECAY)  # call to service start (the walk up)
        self.no_show_wait = LogHistogram(HISTOGRAM_DECAY)  # call to being marked a no-show
        self.all_types = LogHistogram(HISTOGRAM_DECAY)
        self.gap = Ewma(0.02, 0.0)  # free to the next call while people wait (see call_gap)
        self.board = CounterBoard()
        self.line_since: datetime | None = None  # the line has been non-empty since
        self.lines: dict[str, SortedList] = {}
        self.keys: dict[str, tuple[str, LineKey]] = {}
        self.recorder = SlotRecorder("UTC")
        self.abandonment = Abandonment()
        self.since: dict[str, datetime] = {}  # waiting ticket -> when it (re)joined the line
        self.served: dict[str, Ewma] = {}  # service type -> occupation of answered calls
        self.no_show_cost = Ewma(0.02, 0.0)  # occupation of a call nobody answered (see no_show)
        self.last_at: datetime | None = None
        self.open_slots: dict[SlotKey, bool] = {}  # opening hours by slot (a cache)
        self._seen: tuple[int, int] | None = None
        self._lag: tuple[int, Lag] | None = None
        # (ticket, at) -> its outlook and projected wait, made by `outlook.projected_wait` and
        # kept only until the next event (the estimators sharing these signals project once).
        self.projections: dict[tuple[str, datetime], tuple[Outlook, WaitDistribution]] = {}
        # at -> what the counters are expected to do from then on (`outlook._paths`): every
        # projection until the next event shares them (the newcomer's and a joining ticket's).
        self.paths: dict[datetime, Any] = {}

    def __getstate__(self) -> dict[str, object]:
        """Pickled (a stream worker's checkpoint) without the projections of the last event."""
        state = dict(self.__dict__)
        state["projections"] = {}
        state["paths"] = {}
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("paths", {})  # a checkpoint from before it was kept

    # Folding ------------------------------------------------------------------------------

    def observe(self, state: QueueState, event: QueueEvent) -> None:
        """Fold one event; `state` is the queue after `evolve` applied it."""
        # Estimators may share one QueueSignals: each event is folded once.
        seen = (state.version, id(event))
        if seen == self._seen:
            return
        self._seen = seen
        self.projections.clear()
        self.paths.clear()
        at = event.at
        if isinstance(event, QueueCreated | QueueReconfigured):
            self._configure(state, event.config)  # first: the profiles need the time zone
        self._advance(at)
        if isinstance(event, TicketEnqueued | TicketTransferredIn | AppointmentCheckedIn):
            self.recorder.arrival(event.priority)
            self._line_add(state, event.ticket_id)
        elif isinstance(event, TicketReturned):
            self._line_add(state, event.ticket_id)
        elif isinstance(event, TicketCalled):
            self._called(state, event)
        elif isinstance(event, ServiceStarted):
            self.abandonment.showed(event.ticket_id, True)
            busy = self.board.info(event.counter).busy
            if busy is not None and busy.ticket_id == event.ticket_id:
                busy.started = at
                self.walk.add((at - busy.since).total_seconds())
        elif isinstance(event, TicketServed | TicketNoShow):
            no_show = isinstance(event, TicketNoShow)
            self.abandonment.showed(event.ticket_id, not no_show)
            self._free(event.ticket_id, event.counter, at, no_show)
        elif isinstance(event, TicketCancelled | TicketTransferredOut):
            joined = self.since.get(event.ticket_id)
            if self._line_remove(event.ticket_id) and joined is not None:
                waited = (at - joined).total_seconds()
                self.abandonment.left_line(waited, isinstance(event, TicketCancelled))
            self.abandonment.forget(event.ticket_id)
            ticket = state.tickets.get(event.ticket_id)
            if ticket is not None and ticket.counter is not None:
                self._free(event.ticket_id, ticket.counter, at, False)
        elif isinstance(event, TicketPriorityChanged | TicketPromoted) and self._line_remove(
            event.ticket_id, moving=True
        ):
            self._line_add(state, event.ticket_id)
        if state.waiting_count == 0:
            self.line_since = None
        elif self.line_since is None:
            self.line_since = at
        self.board.advance(at, self.line_since)
        if self._lag is None or self.all_types.version - self._lag[0] >= min(
            LAG_REFRESH, 1 + self._lag[0] // 2
        ):  # early on (a new queue) the scale is still being learned: recompute often
            self._refresh_lag()

    def _advance(self, at: datetime) -> None:
        self.recorder.advance(at)
        self.board.advance(at, self.line_since)
        if self.last_at is None or at > self.last_at:
            self.last_at = at

    def _configure(self, state: QueueState, config: QueueConfig) -> None:
        self.config = config
        self.recorder.timezone = config.timezone
        self.board.configure(config)
        self.recorder.open_slots = (
            {day: self.board.open_slots(day) for day in range(7)} if config.opening_hours else None
        )
        self.open_slots = {}
        median, sigma = self.prior()
        for service_type in (*config.service_types, UNTYPED):
            if service_type not in self.occupation:
                histogram = LogHistogram(HISTOGRAM_DECAY)
                histogram.prime(median, sigma, PRIOR_WEIGHT)
                self.occupation[service_type] = histogram
        if self.all_types.total == 0:
            self.all_types.prime(median, sigma, PRIOR_WEIGHT)
        # Class ranks may have changed: re-key our per-type lines (rare; the domain does too).
        self.lines = {}
        self.keys = {}
        for key in state.waiting:
            self._line_add(state, key[3])

    def _line_add(self, state: QueueState, ticket_id: str) -> None:
        ticket = state.tickets.get(ticket_id)
        if ticket is None or ticket.status != "waiting":
            return
        service_type = ticket.service_type or UNTYPED
        key = line_key(state, ticket)
        self.lines.setdefault(service_type, SortedList()).add(key)
        self.keys[ticket_id] = (service_type, key)
        if ticket_id not in self.since:
            self.since[ticket_id] = self.last_at or ticket.order_at

    def _line_remove(self, ticket_id: str, moving: bool = False) -> bool:
        entry = self.keys.pop(ticket_id, None)
        if entry is None:
            return False
        self.lines[entry[0]].remove(entry[1])
        if not moving:
            self.since.pop(ticket_id, None)
        return True

    def _called(self, state: QueueState, event: TicketCalled) -> None:
        joined = self.since.get(event.ticket_id)
        if self._line_remove(event.ticket_id) and joined is not None:
            waited = (event.at - joined).total_seconds()
            self.abandonment.left_line(waited, False)
            self.abandonment.called(event.ticket_id, waited)
        ticket = state.tickets[event.ticket_id]
        info = self.board.info(event.counter)
        if info.busy is not None:  # a second call before the first finished: close the first
            self._free(info.busy.ticket_id, event.counter, event.at, False)
        gap = self.board.called(
            event.counter,
            event.ticket_id,
            ticket.service_type or UNTYPED,
            event.at,
            self.line_since,
        )
        if gap is not None:
            self.gap.add(gap)
            self.board.grace = self.grace()

    def _free(self, ticket_id: str, counter: str, at: datetime, no_show: bool) -> None:
        busy = self.board.freed(counter, ticket_id, at)
        if busy is None:
            return
        spent = (at - busy.since).total_seconds()
        self.occupation.setdefault(busy.service_type, LogHistogram(HISTOGRAM_DECAY)).add(spent)
        self.all_types.add(spent)
        self.board.grace = self.grace()
        if busy.started is not None:
            serving = (at - busy.started).total_seconds()
            self.service.setdefault(busy.service_type, LogHistogram(HISTOGRAM_DECAY)).add(serving)
        if no_show:
            self.no_show_cost.add(spent)
            self.no_show_wait.add(spent)
        else:
            # Plain mean over the first few hundred: the first answered call replaces the prior.
            self.served.setdefault(busy.service_type, Ewma(0.003, spent)).add(spent)

    # Questions ----------------------------------------------------------------------------

    def prior(self) -> tuple[float, float]:
        """(median, sigma) of the cold-start guess of a call's occupation."""
        configured = float(self.config.mean_service_seconds) if self.config else 0.0
        if configured > 0:
            # A log-normal's mean is its median x exp(sigma^2 / 2).
            return configured / math.exp(CONFIGURED_SIGMA**2 / 2), CONFIGURED_SIGMA
        return NEUTRAL_MEDIAN, NEUTRAL_SIGMA

    def scale_sigma(self) -> float:
        """How unsure the service scale still is, as the sigma of its logarithm: the prior's
        own sigma, narrowed by every call seen (a mean of n calls is off by cv / sqrt(n))."""
        _, sigma = self.prior()
        calls = self.all_types.observed
        return 1.0 / math.sqrt(1.0 / sigma**2 + calls / max(self.cv2(), 0.05))

    def thin(self) -> bool:
        """Too few calls seen yet to know the service scale (the guess still weighs)."""
        return self.all_types.thin

    def call_gap(self) -> float:
        """Mean seconds from a counter coming free to its next call while people wait; before
        any was seen, a twentieth of a call (no fixed seconds: a gate calls in a blink)."""
        if self.gap.count > 0:
            return self.gap.value
        return 0.05 * self.all_types.mean()

    def no_show(self) -> float:
        """Mean seconds a call nobody answers occupies a counter; before any was seen, a call."""
        if self.no_show_cost.count > 0:
            return self.no_show_cost.value
        return self.all_types.mean()

    def grace(self) -> float:
        """Seconds a counter may stay idle while people wait before it counts as on a break:
        GRACE_GAPS usual gaps or GRACE_SHARE of a usual call, whichever is longer."""
        return max(GRACE_GAPS * self.call_gap(), GRACE_SHARE * self.all_types.mean())

    def lag(self) -> Lag:
        """The renewal lag of a counter's calls (see `renewal.renewal_lag`), as of the last
        event that moved the occupation histogram LAG_REFRESH calls on."""
        if self._lag is None:
            self._refresh_lag()
        assert self._lag is not None
        return self._lag[1]

    def _refresh_lag(self) -> None:
        """Recomputed while folding, never because someone asked: were it made when asked, an
        estimate asked for between two events (a stream worker refreshing a ticket's range) would
        change the ranges given later, and a rebuild would not give the same accuracy."""
        histogram, gap = self.all_types, self.call_gap()
        cost = histogram.mean() + gap

        def cycle(t: float) -> float:
            return 0.0 if t <= gap else 1.0 - histogram.survival(t - gap)

        self._lag = (histogram.version, renewal_lag(cycle, cost, self.cv2()))

    def cv2(self) -> float:
        """Squared coefficient of variation of the occupation per call (all types)."""
        found = self.all_types.data_cv2()
        return 1.0 if found is None else found

    def served_cost(self, service_type: str) -> float:
        """Mean seconds a counter spends on an answered call of this type (gap included)."""
        found = self.served.get(service_type)
        if found is None:
            histogram = self.occupation.get(service_type) or self.all_types
            return histogram.mean() + self.call_gap()
        return found.value + self.call_gap()

    def ahead_by_type(self, key: LineKey) -> dict[str, int]:
        return {t: line.bisect_left(key) for t, line in self.lines.items() if line}
