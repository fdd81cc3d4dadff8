"""Scenarios: the true parameters of a simulated service, read from a TOML file.

Only the simulator and the oracle may read a `Scenario`: it holds what the estimators must learn
from events (service-time distributions, the counter schedule, arrival rates, patience). The
queue's configuration (`queue_config`) is the one thing the estimators get, as a real queue would.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from domain.config import OpeningHours, QueueConfig
from domain.hours import parse_hhmm, zone

SCENARIO_PACKAGE = "simulation.scenarios"


@dataclass(frozen=True, slots=True)
class ServiceType:
    name: str
    share: float
    median_seconds: float
    sigma: float  # of the log-normal: 0.5 is mildly skewed, 1.0 heavily


@dataclass(frozen=True, slots=True)
class CounterPlan:
    name: str
    # (opens, closes) in minutes of the local day; a shift ending at or after the queue's close
    # runs on until the line is empty (the domain serves those still waiting after closing).
    shifts: tuple[tuple[int, int], ...]
    weekdays: frozenset[int]


@dataclass(frozen=True, slots=True)
class Behaviour:
    call_delay: tuple[float, float]  # a free counter calls the next after this long (uniform)
    walk: tuple[float, float]  # a called person reaches the counter after this long (uniform)
    absent_probability: float  # called, but away for a while (not a walk-away): a no-show
    recall_after: float
    no_show_after: float  # the counter waits this long for somebody who does not come
    return_probability: float  # an absent no-show comes back within the grace period
    patience_scale: float  # Weibull patience: the chance of giving up grows with the wait
    patience_shape: float
    cancel_share: float  # of those who give up, the share that cancel; the rest just leave
    # Staff plan a break between two shifts this long ahead (from the opening at the earliest):
    # the break rota of the day, told to the queue; 0: they say so only as they go.
    break_notice: float = 0.0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    start: date
    timezone: str
    weekdays: frozenset[int]
    opens: int  # minutes of the local day
    closes: int
    queue_config: QueueConfig
    rate_points: tuple[tuple[int, float], ...]  # (minute of day, arrivals per hour), linear
    weekday_factor: tuple[float, ...]
    priorities: tuple[tuple[str, float], ...]  # class -> share of arrivals
    service_types: tuple[ServiceType, ...]
    counters: tuple[CounterPlan, ...]
    behaviour: Behaviour
    # The oracle is asked for one ticket in this many (it simulates the line forward: a busy
    # scenario would otherwise take minutes); every estimator is compared on those tickets.
    oracle_every: int = 1
    # The scenario's own offline run (None: the CLI's defaults). A cold-start scenario plays one
    # day and scores it from the first ticket (no warm-up).
    days: int | None = None
    warmup_days: int | None = None

    def rate_per_hour(self, weekday: int, minute: float) -> float:
        """The true arrival rate at a local minute of a weekday (0 outside opening hours)."""
        if weekday not in self.weekdays or not self.opens <= minute < self.closes:
            return 0.0
        points = self.rate_points
        if minute <= points[0][0]:
            base = points[0][1]
        elif minute >= points[-1][0]:
            base = points[-1][1]
        else:
            base = points[-1][1]
            for (m0, r0), (m1, r1) in itertools.pairwise(points):
                if m0 <= minute < m1:
                    base = r0 + (r1 - r0) * (minute - m0) / (m1 - m0)
                    break
        return base * self.weekday_factor[weekday]

    def max_rate_per_hour(self) -> float:
        return max(r for _, r in self.rate_points) * max(self.weekday_factor)


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One open day on the simulated timeline (seconds since the scenario's epoch)."""

    index: int
    day: date
    weekday: int
    midnight: float  # local midnight
    opens: float
    closes: float
    shifts: dict[str, tuple[tuple[float, float], ...]]

    def minute_of_day(self, t: float) -> float:
        return (t - self.midnight) / 60.0


def epoch(scenario: Scenario) -> datetime:
    """Time zero of the simulated timeline: local midnight of the first day, in UTC."""
    local = datetime.combine(scenario.start, time(0), tzinfo=zone(scenario.timezone))
    return local.astimezone(UTC)


def day_plans(scenario: Scenario, days: int) -> list[DayPlan]:
    """The first `days` open days from the scenario's start (closed weekdays are skipped)."""
    base = epoch(scenario)
    tz = zone(scenario.timezone)
    plans: list[DayPlan] = []
    day = scenario.start
    while len(plans) < days:
        weekday = day.weekday()
        if weekday in scenario.weekdays:
            midnight = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
            m0 = (midnight - base).total_seconds()
            shifts = {
                c.name: tuple((m0 + a * 60.0, m0 + b * 60.0) for a, b in c.shifts)
                for c in scenario.counters
                if weekday in c.weekdays
            }
            plans.append(
                DayPlan(
                    index=len(plans),
                    day=day,
                    weekday=weekday,
                    midnight=m0,
                    opens=m0 + scenario.opens * 60.0,
                    closes=m0 + scenario.closes * 60.0,
                    shifts=shifts,
                )
            )
        day += timedelta(days=1)
    return plans


# Loading --------------------------------------------------------------------------------------


def _minutes(value: str) -> int:
    minutes = parse_hhmm(value)
    if minutes is None:
        raise ValueError(f"not HH:MM: {value!r}")
    return minutes


def _pair(value: Any) -> tuple[float, float]:
    low, high = (float(v) for v in value)
    return low, high


def parse(data: dict[str, Any]) -> Scenario:
    weekdays = frozenset(int(d) for d in data.get("weekdays", [0, 1, 2, 3, 4]))
    opens, closes = _minutes(data["opens"]), _minutes(data["closes"])
    q = data["queue"]
    types = tuple(
        ServiceType(
            name=str(t["name"]),
            share=float(t["share"]),
            median_seconds=float(t["median_seconds"]),
            sigma=float(t["sigma"]),
        )
        for t in data["service_types"]
    )
    counters = tuple(
        CounterPlan(
            name=str(c["name"]),
            shifts=tuple((_minutes(a), _minutes(b)) for a, b in c["shifts"]),
            weekdays=frozenset(int(d) for d in c.get("weekdays", sorted(weekdays))),
        )
        for c in data["counters"]
    )
    classes = tuple(q.get("priority_classes", ["emergency", "urgent", "vip", "normal"]))
    config = QueueConfig(
        name=str(q.get("name", data["name"])),
        prefix=str(q.get("prefix", "A")),
        service_types=tuple(t.name for t in types),
        counters=tuple(c.name for c in counters),
        priority_classes=classes,
        default_priority=str(q.get("default_priority", classes[-1])),
        timezone=str(data.get("timezone", "UTC")),
        opening_hours=tuple(
            OpeningHours(weekday=d, opens=data["opens"], closes=data["closes"])
            for d in sorted(weekdays)
        ),
        no_show_grace_seconds=int(q.get("no_show_grace_seconds", 600)),
        target_wait_seconds=int(q.get("target_wait_seconds", 900)),
        mean_service_seconds=int(q.get("mean_service_seconds", 300)),
    )
    b = data["behaviour"]
    behaviour = Behaviour(
        call_delay=_pair(b["call_delay_seconds"]),
        walk=_pair(b["walk_seconds"]),
        absent_probability=float(b["absent_probability"]),
        recall_after=float(b["recall_after_seconds"]),
        no_show_after=float(b["no_show_after_seconds"]),
        return_probability=float(b["return_probability"]),
        patience_scale=float(b["patience_scale_seconds"]),
        patience_shape=float(b["patience_shape"]),
        cancel_share=float(b["cancel_share"]),
        break_notice=60.0 * float(b.get("break_notice_minutes", 0)),
    )
    arrivals = data["arrivals"]
    simulation = data.get("simulation", {})
    factor = tuple(float(f) for f in arrivals.get("weekday_factor", [1.0] * 7))
    if len(factor) != 7:
        raise ValueError("weekday_factor needs 7 values (Monday first)")
    return Scenario(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        start=date.fromisoformat(str(data.get("start", "2024-03-04"))),
        timezone=config.timezone,
        weekdays=weekdays,
        opens=opens,
        closes=closes,
        queue_config=config,
        rate_points=tuple((_minutes(m), float(r)) for m, r in arrivals["rate"]),
        weekday_factor=factor,
        priorities=tuple((str(k), float(v)) for k, v in data["priorities"].items()),
        service_types=types,
        counters=counters,
        behaviour=behaviour,
        oracle_every=int(simulation.get("oracle_every", 1)),
        days=_optional_int(simulation.get("days")),
        warmup_days=_optional_int(simulation.get("warmup_days")),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def shipped() -> list[str]:
    """Names of the scenarios shipped with the package, sorted."""
    folder = resources.files(SCENARIO_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def names(option: str | None) -> list[str]:
    """The scenarios a `--scenario` option names: every shipped one (none given, or `all`), or
    the comma-separated names."""
    return shipped() if option in (None, "all") else option.split(",")


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name (`clinic`), or any scenario file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return parse(tomllib.loads(path.read_text(encoding="utf-8")))
    resource = resources.files(SCENARIO_PACKAGE).joinpath(f"{name_or_path}.toml")
    if not resource.is_file():
        raise ValueError(f"no scenario {name_or_path!r}; shipped: {', '.join(shipped())}")
    return parse(tomllib.loads(resource.read_text(encoding="utf-8")))
