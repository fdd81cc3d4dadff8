"""`vq simulate --staffing`: the command line of the staffing plan (`simulation.staffing`).

The history is a real queue's (`--queue ID`, every day in the event store; the plan is for
`--date`, default the day after the last it opened) or a scenario's (`--scenario NAME --seed S`:
`--days` of it played offline and recorded as events; the plan is for the next open day, and is
also played on the scenario itself, whose true rates the plan never saw).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

from domain.events import QueueEvent, QueueOpened
from domain.hours import zone
from simulation.formats import as_minutes, plan_csv
from simulation.offline import decide_locally
from simulation.recorded import RecordedDay, config_of
from simulation.scenario import Scenario, day_plans, load
from simulation.staffing import (
    CHECK_RUNS,
    MIN_SHIFT_SLOTS,
    DayRun,
    StaffingPlan,
    alike,
    history,
    plan,
    share,
)
from simulation.whatif_cli import parse_day, read_stored
from simulation.world import commands

HISTORY_DAYS = 15  # a scenario's days played as the history (three weeks of weekdays)
CONFIDENCE = 0.8


def arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--confidence",
        type=float,
        default=CONFIDENCE,
        help="the share of days the plan keeps the P90 wait within the queue's target "
        f"(default {CONFIDENCE})",
    )
    group.add_argument(
        "--csv",
        default=None,
        metavar="FILE.csv",
        help="also write the plan: time,forecast,counters",
    )
    group.add_argument(
        "--min-shift-minutes",
        type=int,
        default=MIN_SHIFT_SLOTS * 15,
        help="a counter the plan opens stays open this long at least, in quarter hours "
        f"(default {MIN_SHIFT_SLOTS * 15}; 15: the plan as searched, counter by quarter hour)",
    )
    group.add_argument(
        "--plan",
        default=None,
        metavar="FILE.csv",
        help="check this plan (a --csv file, its counters edited) instead of making one",
    )


def run(args: argparse.Namespace) -> int:
    if not 0.0 < args.confidence < 1.0:
        print("--confidence is a share between 0 and 1, e.g. 0.8", file=sys.stderr)
        return 2
    if args.min_shift_minutes < 15 or args.min_shift_minutes % 15:
        print("--min-shift-minutes is a whole number of quarter hours, e.g. 60", file=sys.stderr)
        return 2
    try:
        counts = None if args.plan is None else read_plan(Path(args.plan))
        if args.queue is not None:
            events = read_stored(args.queue)
            days, truth = queue_history(events), None
            day = next_day(events) if args.date is None else parse_day(args.date)
        else:
            if args.scenario in (None, "all") or "," in args.scenario:
                raise ValueError("--staffing plans for one --scenario NAME (or a --queue)")
            days, day, truth = _scenario_history(load(args.scenario), args.seed, args.days)
        found = plan(
            days,
            day,
            confidence=args.confidence,
            counts=counts,
            truth=truth,
            min_shift_slots=args.min_shift_minutes // 15,
        )
    except (ValueError, OSError) as exc:
        print(f"vq simulate --staffing: {exc}", file=sys.stderr)
        return 2
    last = alike(days, day)[-1]  # the last day of history like the one planned
    if args.csv is not None:
        write_plan(found, Path(args.csv))
    if args.chart is not None:
        from simulation.whatif_chart import draw_plan  # matplotlib: a development dependency

        draw_plan(found, last, Path(args.chart))
    if args.json:
        print(json.dumps(as_json(found, last), indent=2))
    else:
        print(report(found, last))
    checked = found.truth or found.checked
    if args.check and share(checked) < args.confidence:
        return 1
    return 0


def _scenario_history(
    scenario: Scenario, seed: int, days: int | None
) -> tuple[list[RecordedDay], date, Scenario]:
    count = HISTORY_DAYS if days is None else days
    if count < 1:
        raise ValueError("--days must be at least 1")
    plans = day_plans(scenario, count + 1)
    events = asyncio.run(decide_locally(commands(scenario, days=count, seed=seed)))
    return history(events, [p.day for p in plans[:count]]), plans[count].day, scenario


def queue_history(events: Sequence[QueueEvent]) -> list[RecordedDay]:
    config = config_of(events)
    if config is None:
        raise ValueError("these events do not create a queue")
    tz = zone(config.timezone)
    opened = sorted({e.at.astimezone(tz).date() for e in events if isinstance(e, QueueOpened)})
    found = history(events, opened)
    if not found:
        raise ValueError("the queue has no day to learn from yet")
    return found


def next_day(events: Sequence[QueueEvent]) -> date:
    """The next day the queue opens after the last day it opened: by its opening hours if it
    has any (a Friday's next is the Monday of a queue open on weekdays), else the day after."""
    config = config_of(events)
    assert config is not None
    last = max(e.at for e in events if isinstance(e, QueueOpened))
    day = last.astimezone(zone(config.timezone)).date() + timedelta(days=1)
    open_days = {hours.weekday for hours in config.opening_hours}
    for _ in range(6):
        if not open_days or day.weekday() in open_days:
            break
        day += timedelta(days=1)
    return day


# The plan as a file a manager can edit ---------------------------------------------------------


def _clock(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def write_plan(found: StaffingPlan, path: Path) -> None:
    fc = found.forecast
    rows = zip(map(_clock, fc.slots), fc.arrivals, found.counts, strict=True)
    path.write_text(plan_csv(rows), encoding="utf-8", newline="")


def read_plan(path: Path) -> list[int]:
    """The counters column of a plan file (as `--csv` writes it, maybe edited)."""
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    if not rows or "counters" not in rows[0]:
        raise ValueError(f"{path}: no 'counters' column (write one with --csv)")
    counts = []
    for n, row in enumerate(rows, 2):
        try:
            count = int(row["counters"])
        except (TypeError, ValueError):
            raise ValueError(f"{path}, line {n}: counters must be a whole number") from None
        if not 0 <= count <= 200:
            raise ValueError(f"{path}, line {n}: counters must be 0-200")
        counts.append(count)
    return counts


# Reports ---------------------------------------------------------------------------------------


def _runs(title: str, runs: Sequence[DayRun], confidence: float) -> list[str]:
    under = sum(1 for r in runs if r.under)
    verdict = "meets" if share(runs) >= confidence else "MISSES"
    lines = [
        f"{title}: P90 within target on {under} of {len(runs)} days ({share(runs):.0%}); "
        f"stated {confidence:.0%}: {verdict} it",
        f"  {'run':>3}  {'joined':>6}  {'mean wait':>10}  {'P90 wait':>10}  within",
    ]
    for r in runs:
        left = f" ({r.unserved} never called)" if r.unserved else ""
        lines.append(
            f"  {r.seed:>3}  {r.joined:>6}  {as_minutes(r.mean_wait):>10}  "
            f"{as_minutes(r.p90_wait):>10}  {'yes' if r.under else 'no'}{left}"
        )
    return lines


def report(found: StaffingPlan, last: RecordedDay) -> str:
    fc = found.forecast
    lines = [
        f"Staffing plan: {last.config.name!r} on {fc.day.isoformat()} ({fc.day:%A}), from "
        f"{fc.days} days of history; the P90 wait within {found.target / 60:.0f} min on at "
        f"least {found.confidence:.0%} of days",
        "",
        "  time   joining (forecast)  counters",
    ]
    for start, expected, count in zip(fc.slots, fc.arrivals, found.counts, strict=True):
        lines.append(f"  {_clock(start)}  {expected:>18.1f}  {count:>8}  {'#' * count}")
    lines += [
        "",
        f"counter-hours: {found.counter_hours():.1f} ({last.day:%A} {last.day.isoformat()} had "
        f"{last.counter_hours():.1f}); a day's arrivals vary by {fc.spread:.0%} around the forecast",
        "",
        *_runs(
            f"Checked on {len(found.checked)} fresh simulated days", found.checked, found.confidence
        ),
    ]
    if found.truth:
        lines += ["", *_runs("Played on the scenario itself", found.truth, found.confidence)]
    return "\n".join(lines)


def as_json(found: StaffingPlan, last: RecordedDay) -> dict[str, object]:
    fc = found.forecast
    return {
        "queue": last.config.name,
        "day": fc.day.isoformat(),
        "target_seconds": found.target,
        "confidence": found.confidence,
        "slots": [
            {"time": _clock(s), "forecast": a, "counters": c}
            for s, a, c in zip(fc.slots, fc.arrivals, found.counts, strict=True)
        ],
        "counter_hours": found.counter_hours(),
        "checked": [asdict(r) for r in found.checked],
        "checked_share": share(found.checked),
        "truth": [asdict(r) for r in found.truth],
        "truth_share": share(found.truth) if found.truth else None,
        "check_runs": CHECK_RUNS,
    }
