"""What limits a queue's throughput now, with the evidence: from its analytics buckets alone.

The last hour of today (the quarter hour under way and the three before it) is set against the
same hours of the same weekday in the past `KEEP_WEEKS` weeks (the analytics of
projections.analytics: counts per 15-minute bucket, by event time). Five things are looked for:

* `counter_idle`: a counter that worked at this time on most of those days (at least `MIN_DAYS`
  and `USUAL_SHARE` of them) has served nobody for `IDLE` while people wait, and nobody is at it;
* `slower_service`: a service type's mean service time in the last hour is `SLOW_RATIO` times its
  usual one on those days (at least `MIN_SERVED` served, and `Z_MIN` standard errors above);
* `no_show_spike`: more no-shows among the last hour's calls than the usual rate makes likely
  (binomial tail under `ALPHA`, at least `MIN_NO_SHOWS` and twice the usual rate);
* `arrivals_above_usual`: more people joined than those hours of the weekday bring (the same
  negative binomial tail as the unusual-arrivals alert, domain.anomaly.tail, under `ALPHA`);
* `line_growing`: people join faster than they are served and the line is long.

Each finding says how many people an hour it costs (`people_per_hour`), and the causes are listed
by that, the largest first: the order in which they limit throughput; a growing line, their
effect, comes last. Pure: the same buckets
give the same findings, so a rebuild of the analytics gives the same answer.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.anomaly import tail
from projections.analytics import BUCKET_S
from projections.analytics_report import Bucket, breakdowns

KEEP_WEEKS = 8
WINDOW_SLOTS = 4  # the quarter hour under way and the three before it
IDLE_SLOTS = 2  # a counter with no service in the quarter hour under way and the one before
MIN_DAYS = 3
USUAL_SHARE = 0.75
SLOW_RATIO = 1.25
MIN_SERVED = 5
MIN_USUAL_SERVED = 20
Z_MIN = 3.0
ALPHA = 1e-3
MIN_NO_SHOWS = 3
MIN_ARRIVALS = 6
ARRIVAL_RATIO = 1.5
GROWING_RATIO = 1.2
GROWING_MIN_WAITING = 5


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    subject: str | None  # the counter or service type, None for the whole queue
    people_per_hour: float  # the throughput it costs (or the demand it adds)
    text: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "people_per_hour": round(self.people_per_hour, 1),
            "text": self.text,
            "evidence": self.evidence,
        }

    def short(self) -> str:
        """A few words and numbers for a text message (the numbers read in any language)."""
        e = self.evidence
        if self.kind == "counter_idle":
            return f"counter {self.subject} idle, {e['waiting']} waiting"
        if self.kind == "slower_service":
            return (
                f"{self.subject or 'service'} {e['mean_service_seconds'] / 60:.1f} min, "
                f"usually {e['usual_mean_service_seconds'] / 60:.1f}"
            )
        if self.kind == "no_show_spike":
            return f"no-shows {e['no_shows']}/{e['called']}, usually {e['usual_share']:.0%}"
        if self.kind == "arrivals_above_usual":
            return f"{e['arrivals']} joined in 1 h, usually {e['usual_arrivals']}"
        return f"line +{self.people_per_hour:.0f}/h"


@dataclass(frozen=True, slots=True)
class Window:
    """The last hour of one day: slot starts (epoch seconds) and the share of the last one."""

    starts: tuple[int, ...]
    last_share: float  # of the quarter hour under way, the part that has passed
    # A past day's last quarter hour counts for the share that has passed today; today's counts
    # are already those of that part.
    scaled: bool = True

    def weight(self, start: int) -> float:
        return self.last_share if self.scaled and start == self.starts[-1] else 1.0

    def total(self, buckets: dict[int, Bucket], name: str) -> float:
        return sum(
            buckets[s].counts.get(name, 0) * self.weight(s) for s in self.starts if s in buckets
        )

    def hours(self) -> float:
        return (len(self.starts) - 1 + self.last_share) * BUCKET_S / 3600


def windows(now: datetime, timezone: str) -> tuple[Window, list[tuple[datetime, Window]]]:
    """Today's window ending at `now`, and the same wall-clock window on each past weekday."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    into = (local - midnight).total_seconds()
    slot = int(into // BUCKET_S)
    share = max((into - slot * BUCKET_S) / BUCKET_S, 1 / BUCKET_S)
    first = max(0, slot - WINDOW_SLOTS + 1)

    def at(day: datetime, scaled: bool = True) -> Window:
        starts = tuple(
            int((day + timedelta(seconds=s * BUCKET_S)).timestamp()) for s in range(first, slot + 1)
        )
        return Window(starts, share, scaled)

    past = []
    for week in range(1, KEEP_WEEKS + 1):
        day = (midnight.replace(tzinfo=None) - timedelta(weeks=week)).replace(tzinfo=zone)
        past.append((day, at(day)))
    return at(midnight, scaled=False), past


@dataclass(slots=True)
class Evidence:
    """The buckets a judgement reads: today's, and each past day's that had any (open then)."""

    today: dict[int, Bucket]
    window: Window
    past: list[tuple[dict[int, Bucket], Window]]
    waiting: int
    at_counters: frozenset[str]
    timezone: str
    # Derived once: every past day's buckets together, and today's in the window.
    past_buckets: list[Bucket] = field(init=False)
    today_window: list[Bucket] = field(init=False)

    def __post_init__(self) -> None:
        self.past_buckets = [b for day, _ in self.past for b in day.values()]
        self.today_window = [self.today[s] for s in self.window.starts if s in self.today]

    @classmethod
    def of(
        cls,
        today: Iterable[Bucket],
        past_days: Sequence[Iterable[Bucket]],
        now: datetime,
        timezone: str,
        waiting: int,
        at_counters: Iterable[str] = (),
    ) -> Evidence:
        window, past_windows = windows(now, timezone)
        past = []
        for buckets, (_, day_window) in zip(past_days, past_windows, strict=False):
            by_start = {b.start: b for b in buckets}
            if any(s in by_start for s in day_window.starts):
                past.append((by_start, day_window))
        return cls(
            {b.start: b for b in today}, window, past, waiting, frozenset(at_counters), timezone
        )


def find(evidence: Evidence) -> list[Finding]:
    """Every bottleneck found, the costliest first; a growing line, their effect, last."""
    found = [
        *_idle_counters(evidence),
        *_slower_services(evidence),
        *_no_show_spike(evidence),
        *_arrivals(evidence),
        *_growing(evidence),
    ]
    return sorted(
        found,
        key=lambda f: (f.kind == "line_growing", -f.people_per_hour, f.kind, f.subject or ""),
    )


def _summed(buckets: Iterable[Bucket]) -> dict[str, int]:
    """The buckets' counts added up, by name."""
    total: dict[str, int] = {}
    for bucket in buckets:
        for name, amount in bucket.counts.items():
            total[name] = total.get(name, 0) + amount
    return total


def _worked(buckets: dict[int, Bucket], starts: Iterable[int], counter: str) -> bool:
    key = f"c:{counter}:busy_ms"
    return any(buckets[s].counts.get(key, 0) > 0 for s in starts if s in buckets)


def _idle_counters(ev: Evidence) -> list[Finding]:
    if ev.waiting == 0 or len(ev.past) < MIN_DAYS:
        return []
    days = len(ev.past)
    found = []
    counters, _ = breakdowns(_summed(ev.past_buckets))
    recent = ev.window.starts[-IDLE_SLOTS:]
    for counter, metrics in sorted(counters.items()):
        if not metrics.get("busy_ms"):
            continue
        usual = sum(1 for day, w in ev.past if _worked(day, w.starts, counter))
        if usual < max(MIN_DAYS, USUAL_SHARE * days):
            continue
        if counter in ev.at_counters or _worked(ev.today, recent, counter):
            continue
        served, service_ms = metrics.get("served", 0), metrics.get("service_ms", 0)
        mean_s = service_ms / served / 1000 if served else 0.0
        last = max((s for s in ev.today if _worked(ev.today, (s,), counter)), default=None)
        evidence = {
            "usual_days": usual,
            "days": days,
            "usual_mean_service_seconds": round(mean_s, 1),
            "last_worked_slot": (
                datetime.fromtimestamp(last, tz=ZoneInfo(ev.timezone)).isoformat() if last else None
            ),
            "waiting": ev.waiting,
        }
        since = "today" if last is None else "in the last 30 min"
        found.append(
            Finding(
                "counter_idle",
                counter,
                3600 / mean_s if mean_s > 0 else 0.0,
                f"counter {counter} usually works now ({usual} of the last {days} such days) "
                f"but has served nobody {since}, with {ev.waiting} waiting",
                evidence,
            )
        )
    return found


def _slower_services(ev: Evidence) -> list[Finding]:
    found = []
    _, now_kinds = breakdowns(_summed(ev.today_window))
    _, usual_kinds = breakdowns(_summed(ev.past_buckets))
    for kind, metrics in sorted(now_kinds.items()):
        usual = usual_kinds.get(kind, {})
        n, total_ms = metrics.get("served", 0), metrics.get("service_ms", 0)
        usual_n = usual.get("served", 0)
        if n < MIN_SERVED or usual_n < MIN_USUAL_SERVED:
            continue
        usual_s = usual.get("service_ms", 0) / 1000
        squares = usual.get("service_s2", 0)
        usual_mean = usual_s / usual_n
        spread = math.sqrt(max(squares / usual_n - usual_mean**2, 0.0)) or 1.0
        mean = total_ms / n / 1000
        z = (mean - usual_mean) / (spread / math.sqrt(n))
        if mean < SLOW_RATIO * usual_mean or z < Z_MIN:
            continue
        ratio = mean / usual_mean
        name = kind or "(no service type)"
        found.append(
            Finding(
                "slower_service",
                kind,
                n / ev.window.hours() * (ratio - 1),
                f"{name}: {n} served in the last hour took {mean / 60:.1f} min on average, "
                f"{ratio:.1f}x the usual {usual_mean / 60:.1f} min",
                {
                    "served": n,
                    "mean_service_seconds": round(mean, 1),
                    "usual_mean_service_seconds": round(usual_mean, 1),
                    "usual_served": usual_n,
                    "ratio": round(ratio, 2),
                    "z": round(z, 1),
                },
            )
        )
    return found


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    p = min(max(p, 1e-9), 1 - 1e-9)
    below = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(min(k, n + 1)))
    return max(0.0, 1.0 - below)


def _no_show_spike(ev: Evidence) -> list[Finding]:
    now, usual = _summed(ev.today_window), _summed(ev.past_buckets)
    k, calls = now.get("no_shows", 0), now.get("called", 0)
    usual_k, usual_calls = usual.get("no_shows", 0), usual.get("called", 0)
    if k < MIN_NO_SHOWS or calls == 0 or len(ev.past) < MIN_DAYS or usual_calls == 0:
        return []
    rate = (usual_k + 0.5) / (usual_calls + 1)  # never exactly 0: one no-show is no spike
    chance = binomial_tail(k, max(calls, k), rate)
    if chance >= ALPHA or k / calls < 2 * rate:
        return []
    return [
        Finding(
            "no_show_spike",
            None,
            (k - rate * calls) / ev.window.hours(),
            f"{k} of the last hour's {calls} calls were no-shows ({k / calls:.0%}); "
            f"usually {rate:.0%}",
            {
                "no_shows": k,
                "called": calls,
                "share": round(k / calls, 3),
                "usual_share": round(rate, 3),
                "chance": float(f"{chance:.3g}"),
            },
        )
    ]


def _arrivals(ev: Evidence) -> list[Finding]:
    if len(ev.past) < MIN_DAYS:
        return []
    count = round(ev.window.total(ev.today, "arrivals"))
    usual = [w.total(day, "arrivals") for day, w in ev.past]
    mean = statistics.fmean(usual)
    chance = tail(count, sum(usual), len(usual))
    if count < MIN_ARRIVALS or count < ARRIVAL_RATIO * mean or chance >= ALPHA:
        return []
    return [
        Finding(
            "arrivals_above_usual",
            None,
            (count - mean) / ev.window.hours(),
            f"{count} joined in the last hour, {count / max(mean, 0.1):.1f}x the usual "
            f"{mean:.1f} at this time of the week",
            {
                "arrivals": count,
                "usual_arrivals": round(mean, 1),
                "days": len(usual),
                "chance": float(f"{chance:.3g}"),
            },
        )
    ]


def _growing(ev: Evidence) -> list[Finding]:
    arrivals = ev.window.total(ev.today, "arrivals")
    served = ev.window.total(ev.today, "served")
    hours = ev.window.hours()
    if ev.waiting < GROWING_MIN_WAITING or arrivals <= GROWING_RATIO * served:
        return []
    return [
        Finding(
            "line_growing",
            None,
            (arrivals - served) / hours,
            f"{arrivals / hours:.0f} an hour join and {served / hours:.0f} an hour are served: "
            f"the line ({ev.waiting} now) grows by {(arrivals - served) / hours:.0f} an hour",
            {
                "arrivals_per_hour": round(arrivals / hours, 1),
                "served_per_hour": round(served / hours, 1),
                "waiting": ev.waiting,
            },
        )
    ]
