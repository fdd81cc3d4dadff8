"""The soak's figures over time, from what its processes hand over (bench/soak_procs.py), in
memory bounded whatever the duration: per interval of `INTERVAL_S` a summary (the raw latencies
of one interval are dropped once it is summed up), for the whole run a histogram, and of the SSE
arrivals only the last `KEEP_ARRIVALS_S`.

* command latency: from the command's due time (open loop) to its answer; an interval holds the
  answers that *came* in it.
* propagation: the command's answer -> the first arrival on its queue's SSE stream of a version
  at least the one it answered (bench/propagation.py's rule); none within `UNSEEN_AFTER_S`:
  unseen. An interval's figure is final once every command answered in it is settled.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTERVAL_S = 5.0
UNSEEN_AFTER_S = 30.0
KEEP_ARRIVALS_S = 90.0
FLAT_WITHIN = 0.10  # the "flat within 10 %"
WINDOW_SHARE = 0.10  # compared: the first tenth of the run after warm-up, and its last tenth
LAG_NEAR_ZERO_S = 2.0  # a lag is near 0 while it is under this many seconds of offered commands

Summary = dict[str, Any]


class Tail:
    """The complete JSON lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def lines(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as source:
                source.seek(self._offset)
                data = source.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        return [json.loads(line) for line in complete if line]


class Histogram:
    """Latencies in buckets 1 % wide: percentiles of any number of samples in bounded memory."""

    _STEP = math.log(1.01)

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.n = 0
        self.max_s = 0.0

    def add(self, seconds: float) -> None:
        self.counts[round(math.log(max(seconds * 1000, 0.001)) / self._STEP)] += 1
        self.n += 1
        self.max_s = max(self.max_s, seconds)

    def percentile_ms(self, q: float) -> float | None:
        if not self.n:
            return None
        rank, seen = max(1, math.ceil(q / 100 * self.n)), 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:  # the bucket's middle, within 0.5 %; never above the largest
                return round(min(math.exp(bucket * self._STEP), self.max_s * 1000), 3)
        return None  # not reached: the counts add up to n

    def summary(self) -> Summary:
        return {
            "n": self.n,
            **{f"p{q}": self.percentile_ms(q) for q in (50, 95, 99)},
            "max": round(self.max_s * 1000, 3) if self.n else None,
        }


def percentile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(
        ordered[min(max(1, math.ceil(q / 100 * len(ordered))), len(ordered)) - 1] * 1000, 3
    )


@dataclass
class _Bucket:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    rejected: int = 0
    errors: int = 0
    resent: int = 0  # requests not answered at all, sent again (bench/soak_procs.py)
    statuses: Counter[str] = field(default_factory=Counter)


class Commands:
    """The generator's answers, summed up per interval once it has flushed past the interval."""

    def __init__(self, warmup_s: float) -> None:
        self.warmup_s = warmup_s
        self.t0: float | None = None  # the first command's due time: the soak's time 0
        self.flushed_at = -math.inf
        self.end: dict[str, Any] | None = None
        self.overall = Histogram()  # after the warm-up
        self.resent = 0
        self._buckets: dict[int, _Bucket] = {}
        self._next = 0

    def add(self, line: dict[str, Any]) -> list[tuple[int, int, float, int]]:
        """Fold one flushed line in; returns its successful commands for the propagation:
        (queue, version answered, answered at, interval)."""
        if "end" in line:
            self.end = line
            return []
        rows = line["rows"]
        if self.t0 is None and rows:
            self.t0 = min(row[0] for row in rows)
        self.flushed_at = line["at"]
        if self.t0 is not None and line.get("resent"):
            index = max(0, int((line["at"] - self.t0) // INTERVAL_S))
            self._buckets.setdefault(index, _Bucket()).resent += line["resent"]
            self.resent += line["resent"]
        done_ok = []
        for due, _op, queue, status, done, version in rows:
            assert self.t0 is not None
            index = max(0, int((done - self.t0) // INTERVAL_S))
            bucket = self._buckets.setdefault(index, _Bucket())
            bucket.latencies.append(done - due)
            if due - self.t0 >= self.warmup_s:
                self.overall.add(done - due)
            if 200 <= status < 300:
                bucket.ok += 1
                done_ok.append((queue, version, done, index))
            elif 400 <= status < 500:
                bucket.rejected += 1
            else:
                bucket.errors += 1
                bucket.statuses[str(status)] += 1
        return done_ok

    @property
    def final_upto(self) -> int:
        """The last interval whose answers are all in (-1: none yet)."""
        if self.end is not None:
            return max(self._buckets, default=self._next - 1)
        if self.t0 is None:
            return -1
        return int((self.flushed_at - self.t0) // INTERVAL_S) - 1

    def ready(self) -> list[tuple[int, Summary, list[float]]]:
        """Intervals newly final, in order: (index, summary, raw latencies in seconds)."""
        found = []
        while self._next <= self.final_upto:
            bucket = self._buckets.pop(self._next, _Bucket())
            answered = bucket.ok + bucket.rejected
            found.append(
                (
                    self._next,
                    {
                        "answered_per_s": round(answered / INTERVAL_S, 1),
                        "ok": bucket.ok,
                        "rejected": bucket.rejected,
                        "errors": bucket.errors,
                        "resent": bucket.resent,
                        "errors_by_status": dict(bucket.statuses),
                        "p50": percentile_ms(bucket.latencies, 50),
                        "p99": percentile_ms(bucket.latencies, 99),
                        "max": percentile_ms(bucket.latencies, 100),
                    },
                    bucket.latencies,
                )
            )
            self._next += 1
        return found


class Propagation:
    """Answer -> SSE arrival per command, summed up per interval once all its commands settled."""

    def __init__(self, warmup_s: float) -> None:
        self.warmup_s = warmup_s
        self.overall = Histogram()  # after the warm-up
        self.unseen = 0
        self._arrivals: dict[int, tuple[list[int], list[float]]] = {}
        self._pending: list[tuple[int, int, float, int]] = []
        self._delays: dict[int, list[float]] = {}
        self._unseen: Counter[int] = Counter()
        self._waiting: Counter[int] = Counter()
        self._next = 0

    def commanded(self, commands: list[tuple[int, int, float, int]]) -> None:
        self._pending += commands
        for command in commands:
            self._waiting[command[3]] += 1

    def arrived(self, rows: list[list[Any]]) -> None:
        for queue, version, at in rows:
            versions, times = self._arrivals.setdefault(queue, ([], []))
            if versions and version <= versions[-1]:
                continue  # a replay after a reconnect, or older: says nothing new
            versions.append(version)
            times.append(at)

    def settled(self, final_upto: int) -> bool:
        """Every command matched or given up, every interval up to `final_upto` summed up."""
        return not self._pending and self._next > final_upto

    def settle(self, now: float, final_upto: int) -> list[tuple[int, Summary, list[float]]]:
        """Match what can be matched; returns the intervals newly final, in order."""
        still = []
        for queue, version, done, index in self._pending:
            versions, times = self._arrivals.get(queue, ([], []))
            at = bisect.bisect_left(versions, version)
            if at < len(versions):
                delay = max(times[at] - done, 0.0)  # the read side may beat the answer back
                self._delays.setdefault(index, []).append(delay)
                if index * INTERVAL_S >= self.warmup_s:
                    self.overall.add(delay)
            elif now - done > UNSEEN_AFTER_S:
                self._unseen[index] += 1
                self.unseen += 1
            else:
                still.append((queue, version, done, index))
                continue
            self._waiting[index] -= 1
        self._pending = still
        for versions, times in self._arrivals.values():
            cut = bisect.bisect_left(times, now - KEEP_ARRIVALS_S)
            del versions[:cut], times[:cut]
        found = []
        while self._next <= final_upto and self._waiting[self._next] <= 0:
            delays = self._delays.pop(self._next, [])
            summary = {
                "sse_p50": percentile_ms(delays, 50),
                "sse_p99": percentile_ms(delays, 99),
                "sse_max": percentile_ms(delays, 100),
                "sse_unseen": self._unseen.pop(self._next, 0),
            }
            self._waiting.pop(self._next, None)
            found.append((self._next, summary, delays))
            self._next += 1
        return found


# -- verdicts -------------------------------------------------------------------------------------


def windows(duration_s: float, warmup_s: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The first tenth of the run after the warm-up, and the last tenth (seconds from t0)."""
    span = WINDOW_SHARE * duration_s
    return (warmup_s, warmup_s + span), (duration_s - span, duration_s)


def _values(series: list[Summary], key: str, window: tuple[float, float]) -> list[float]:
    low, high = window
    return [
        float(row[key])
        for row in series
        if row.get(key) is not None and row["t"] - INTERVAL_S >= low - 1e-6 and row["t"] <= high
    ]


def median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    found = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return round(found, 3)


def flat(series: list[Summary], key: str, duration_s: float, warmup_s: float) -> Summary:
    """Median of the last tenth against the first tenth after warm-up: flat within 10 %?"""
    first_window, last_window = windows(duration_s, warmup_s)
    first = median(_values(series, key, first_window))
    last = median(_values(series, key, last_window))
    if first is None or last is None or first <= 0:
        return {"figure": key, "first": first, "last": last, "change": None, "met": None}
    change = last / first - 1
    return {
        "figure": key,
        "first": first,
        "last": last,
        "change": round(change, 3),
        "verdict": "flat" if abs(change) <= FLAT_WITHIN else "grew" if change > 0 else "fell",
        "met": abs(change) <= FLAT_WITHIN,
    }


def near_zero(
    series: list[Summary], key: str, duration_s: float, warmup_s: float, rate: float
) -> Summary:
    """A lag stays near 0: 95 % of its samples after warm-up under `LAG_NEAR_ZERO_S` of commands."""
    first_window, last_window = windows(duration_s, warmup_s)
    after = sorted(_values(series, key, (warmup_s, duration_s)))
    bound = rate * LAG_NEAR_ZERO_S
    p95 = after[min(max(1, math.ceil(0.95 * len(after))), len(after)) - 1] if after else None
    return {
        "figure": key,
        "first": median(_values(series, key, first_window)),
        "last": median(_values(series, key, last_window)),
        "p95": p95,
        "max": after[-1] if after else None,
        "bound": bound,
        "verdict": None if p95 is None else "near 0" if p95 <= bound else "NOT near 0",
        "met": None if p95 is None else p95 <= bound,
    }


def growth(series: list[Summary], key: str, duration_s: float, warmup_s: float) -> Summary:
    """How fast a figure grows: the two windows' medians, per hour (a figure sampled less often
    than a window is long: its first and last samples after the warm-up)."""
    first_window, last_window = windows(duration_s, warmup_s)
    first = median(_values(series, key, first_window))
    last = median(_values(series, key, last_window))
    since, until = sum(first_window) / 2, sum(last_window) / 2
    if first is None or last is None:
        points = [
            (row["t"], float(row[key]))
            for row in series
            if row.get(key) is not None and warmup_s <= row["t"] <= duration_s
        ]
        if len(points) >= 2:
            (since, first), (until, last) = points[0], points[-1]
    hours = (until - since) / 3600
    per_hour = None if first is None or last is None or hours <= 0 else (last - first) / hours
    return {
        "figure": key,
        "first": first,
        "last": last,
        "per_hour": None if per_hour is None else round(per_hour, 1),
    }
