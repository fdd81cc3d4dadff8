"""`vq simulate --anomalies`: the arrival watch (`domain.anomaly`) on a scenario's days, with a
rush injected on one of them: how soon it is told, and how often a normal day raises an alert.

The days are played offline through the write side's rules (as `vq simulate --offline` plays
them) and every event is folded into the watch, as the stream worker would. The injected rush
is `factor` times the scenario's own arrival rate through a window of one day: the people who
come on top are drawn from the same non-homogeneous Poisson process, `factor - 1` times over.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from domain.anomaly import Alert, ArrivalWatch
from domain.estimation.profiles import SLOT_SECONDS
from domain.hours import parse_hhmm, zone
from simulation.offline import decide_locally
from simulation.scenario import DayPlan, Scenario, day_plans, epoch, load, names
from simulation.world import Person, World

DAYS = 31  # scored days: the rush's, and thirty normal ones the false alerts are counted over
WARMUP_DAYS = 10  # days that teach the watch each weekday's usual (two of each weekday)
FACTOR = 3.0
WINDOW_S = 3600.0  # the rush lasts an hour
WITHIN_SLOTS = 2


@dataclass(frozen=True, slots=True)
class Rush:
    day: int  # index of the open day
    start: float  # seconds since the scenario's epoch
    end: float
    factor: float


class _RushWorld(World):
    def __init__(self, scenario: Scenario, rush: Rush | None, **kwargs: object) -> None:
        super().__init__(scenario, **kwargs)  # type: ignore[arg-type]
        self.rush = rush

    def _arrivals(self, plan: DayPlan) -> list[Person]:
        people = super()._arrivals(plan)
        rush = self.rush
        if rush is None or plan.index != rush.day:
            return people
        rng = random.Random(f"rush:{plan.index}")
        extra: list[Person] = []
        peak = self.scenario.max_rate_per_hour() / 3600.0 * (rush.factor - 1.0)
        t = rush.start
        while peak > 0:
            t += rng.expovariate(peak)
            if t >= rush.end:
                break
            rate = self.scenario.rate_per_hour(plan.weekday, plan.minute_of_day(t)) / 3600.0
            if rng.random() * peak < rate * (rush.factor - 1.0):
                ticket_id = f"rush-{plan.index + 1:03d}-{len(extra) + 1:05d}"
                extra.append(self._person(ticket_id, t))
        return sorted(people + extra, key=lambda p: p.arrived)


@dataclass(slots=True)
class AnomalyRun:
    scenario: str
    seed: int
    warmup_days: int
    days: list[date]
    alerts: dict[date, list[Alert]] = field(default_factory=dict)
    rush: Rush | None = None
    rush_day: date | None = None
    rush_start: datetime | None = None

    def false_alerts(self) -> int:
        return sum(len(a) for d, a in self.alerts.items() if d != self.rush_day)

    def normal_days(self) -> int:
        return len([d for d in self.days if d != self.rush_day])

    def rush_alerts(self) -> list[Alert]:
        return self.alerts.get(self.rush_day, []) if self.rush_day else []

    def passes(self) -> bool:
        """No alert on a normal day; exactly one for the rush, within WITHIN_SLOTS of its start."""
        told = self.told_within()
        rush_ok = self.rush is None or (
            len(self.rush_alerts()) == 1 and told is not None and told <= WITHIN_SLOTS
        )
        return self.false_alerts() == 0 and rush_ok

    def told_within(self) -> float | None:
        """Slots from the start of the rush to its first alert (None: not told)."""
        if self.rush_start is None:
            return None
        times = [a.at for a in self.rush_alerts() if a.at >= self.rush_start]
        if not times:
            return None
        return (min(times) - self.rush_start).total_seconds() / SLOT_SECONDS


def run(
    scenario: Scenario,
    *,
    seed: int,
    days: int = DAYS,
    warmup_days: int = WARMUP_DAYS,
    rush_at: tuple[int, int] | None = None,
    factor: float = FACTOR,
) -> AnomalyRun:
    """`warmup_days` then `days` of `scenario`; a rush of `factor` on one scored day (its middle
    one) from `rush_at` (hour, minute; default: an hour after opening), unless factor is 1."""
    plans = day_plans(scenario, warmup_days + days)
    base = epoch(scenario)
    rush = None
    if factor > 1.0:
        plan = plans[warmup_days + days // 2]
        hour, minute = rush_at if rush_at else divmod(scenario.opens + 60, 60)
        start = plan.midnight + hour * 3600.0 + minute * 60.0
        rush = Rush(plan.index, start, start + WINDOW_S, factor)
    world = _RushWorld(
        scenario,
        rush,
        days=len(plans),
        seed=seed,
        queue_id=f"sim-{scenario.name}",
        tenant_id="sim-tenant",
        id_prefix="",
    )
    events = asyncio.run(decide_locally(world.run()))
    watch = ArrivalWatch(scenario.timezone)
    scored = {p.day for p in plans[warmup_days:]}
    result = AnomalyRun(scenario.name, seed, warmup_days, sorted(scored), rush=rush)
    if rush is not None:
        result.rush_day = plans[rush.day].day
        result.rush_start = base + timedelta(seconds=rush.start)
    tz = zone(scenario.timezone)
    for event in events:
        alert = watch.observe(event)
        day = event.at.astimezone(tz).date()
        if alert is not None and day in scored:
            result.alerts.setdefault(day, []).append(alert)
    return result


def table(runs: list[AnomalyRun]) -> str:
    lines = [
        f"{'scenario':<14} {'seed':>4}  {'normal days':>11}  {'false alerts':>12}  "
        f"{'rush alerts':>11}  {'told after':>10}  check  the alert"
    ]
    for r in runs:
        told = r.told_within()
        text = "; ".join(a.describe() for a in r.rush_alerts()) or "-"
        lines.append(
            f"{r.scenario:<14} {r.seed:>4}  {r.normal_days():>11}  {r.false_alerts():>12}  "
            f"{len(r.rush_alerts()):>11}  "
            f"{'-' if told is None else f'{told:.1f} slots':>10}  "
            f"{'ok' if r.passes() else 'FAIL':>5}  {text}"
        )
    normal = sum(r.normal_days() for r in runs)
    false = sum(r.false_alerts() for r in runs)
    lines.append(
        f"false alerts: {false} over {normal} normal days ({false / max(normal, 1):.3f} a day); "
        f"rushes told within {WITHIN_SLOTS} slots by exactly one alert: "
        f"{sum(1 for r in runs if r.rush and len(r.rush_alerts()) == 1 and (r.told_within() or 99) <= WITHIN_SLOTS)}"
        f" of {sum(1 for r in runs if r.rush)}"
    )
    for r in runs:
        for day, alerts in sorted(r.alerts.items()):
            if day != r.rush_day:
                for a in alerts:
                    lines.append(
                        f"  false alert, {r.scenario} seed {r.seed}, {day}: {a.describe()}"
                    )
    return "\n".join(lines)


def arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--factor",
        type=float,
        default=FACTOR,
        help=f"the injected rush: this many times the usual arrivals (default {FACTOR:g}; 1: none)",
    )
    group.add_argument(
        "--rush-at",
        default=None,
        metavar="HH:MM",
        help="when the hour of rush starts, on the middle scored day (default: an hour after "
        "opening)",
    )


def cli_run(args: argparse.Namespace, seeds: Sequence[int]) -> int:
    """`vq simulate --anomalies`: every scenario asked for, on each seed, in one table."""
    at = None
    if args.rush_at is not None:
        minutes = parse_hhmm(args.rush_at)
        if minutes is None:
            print("--rush-at takes HH:MM", file=sys.stderr)
            return 2
        at = divmod(minutes, 60)
    days = DAYS if args.days is None else args.days
    warmup = WARMUP_DAYS if args.warmup_days is None else args.warmup_days
    if args.factor < 1.0 or days < 1 or warmup < 0:
        print("need --factor >= 1, --days >= 1 and --warmup-days >= 0", file=sys.stderr)
        return 2
    try:
        scenarios = [load(n) for n in names(args.scenario)]
    except (ValueError, OSError) as exc:
        print(f"vq simulate --anomalies: {exc}", file=sys.stderr)
        return 2
    runs = []
    for scenario in scenarios:
        for seed in seeds:
            runs.append(
                run(
                    scenario,
                    seed=seed,
                    days=days,
                    warmup_days=warmup,
                    rush_at=at,
                    factor=args.factor,
                )
            )
            print(
                f"[{len(runs)}/{len(scenarios) * len(seeds)}] {scenario.name} seed {seed}",
                file=sys.stderr,
            )
    print(table(runs))
    return 1 if args.check and not all(r.passes() for r in runs) else 0
