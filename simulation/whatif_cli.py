"""`vq simulate --what-if`: the command line of the what-if replay (`simulation.whatif`).

The recorded day is a real queue's (`--queue ID --date DAY`, read from the event store) or a
scenario's (`--scenario NAME --seed S`: its days played offline and recorded as events, the
what-if then on the last of them, learned from those events only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

from domain.events import QueueEvent, QueueOpened
from domain.hours import zone
from simulation.formats import as_change, as_minutes, as_percent
from simulation.offline import decide_locally
from simulation.recorded import NoDay, RecordedDay, config_of, learn
from simulation.replay import (
    Plan,
    add_counter,
    counter_hours,
    own_plan,
    parse_window,
    remove_counter,
)
from simulation.scenario import day_plans, load, names
from simulation.whatif import MODEL_TOLERANCE, RUNS, Variant, WhatIf, what_if
from simulation.world import commands

DEFAULT_CHANGE = "busiest:2h"
HISTORY_DAYS = 5  # a scenario's days played before the recorded one (the estimators' history)


def arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--queue",
        default=None,
        help="a real queue's id: its day (--date, default the last it opened) is read from the "
        "event store (VQ_ENV's PostgreSQL)",
    )
    group.add_argument(
        "--add-counter",
        action="append",
        default=[],
        metavar="WINDOW",
        help="one more counter working through WINDOW: HH:MM-HH:MM, or busiest:2h (the day's "
        f"busiest stretch that long); repeatable (default, with no change: {DEFAULT_CHANGE})",
    )
    group.add_argument(
        "--remove-counter",
        action="append",
        default=[],
        metavar="WINDOW",
        help="one counter fewer through WINDOW (the one working most of it stops); repeatable",
    )
    group.add_argument(
        "--aging-minutes",
        type=int,
        default=None,
        help="replay with this aging bound (a waiting ticket moves a class up each time it has "
        "waited this long); 0 turns aging off",
    )
    group.add_argument(
        "--runs", type=int, default=RUNS, help=f"replays of each plan (default {RUNS})"
    )
    group.add_argument(
        "--chart",
        default=None,
        metavar="FILE.png",
        help="also draw the day: waits through the day (real and replays) and counters working",
    )
    group.add_argument(
        "--policy",
        choices=("as-configured", "first-come"),
        default="as-configured",
        help="the calling policy replayed: the queue's priority classes, or first come, first "
        "served (one class: everybody in the order they joined)",
    )
    group.add_argument(
        "--suggest-aging",
        action="store_true",
        help="replay the day with no aging and bounds of 0.5x-3x the target wait, and suggest "
        "the fairest bound that does not cost the mean wait (printed, never applied)",
    )


def run(args: argparse.Namespace, seeds: Sequence[int]) -> int:
    if args.runs < 1 or (args.aging_minutes is not None and args.aging_minutes < 0):
        print("need --runs >= 1 and --aging-minutes >= 0", file=sys.stderr)
        return 2
    if args.suggest_aging:
        return _suggest_aging(args, seeds)
    try:
        if args.queue is not None:
            cases = [(args.queue, *_stored(args.queue, args.date))]
        else:
            chosen = names(args.scenario)
            cases = [(f"{n} seed {s}", *_recorded(n, s, args.days)) for s in seeds for n in chosen]
        results: list[tuple[str, WhatIf]] = []
        for n, (label, events, day) in enumerate(cases, 1):
            result = what_if(events, day, _plans(events, day, args), runs=args.runs)
            results.append((label, result))
            if len(cases) > 1:  # progress, on stderr: stdout holds the report alone
                print(f"[{n}/{len(cases)}] {label}: {_verdict(result)}", file=sys.stderr)
    except (ValueError, OSError) as exc:
        print(f"vq simulate --what-if: {exc}", file=sys.stderr)
        return 2
    if args.chart is not None:
        if len(results) != 1:
            print("--chart draws one day: give one --scenario and --seed", file=sys.stderr)
            return 2
        from simulation.whatif_chart import draw  # matplotlib: a development dependency

        draw(results[0][1], Path(args.chart))
        print(f"chart: {args.chart}", file=sys.stderr)
    if args.json:
        print(json.dumps([{"case": c, **r.as_dict()} for c, r in results], indent=2))
    elif len(results) > 1:
        print(sweep(results))
    else:
        print(table(*results[0]))
    if args.check and not all(r.model_holds() for _, r in results):
        return 1
    return 0


def _suggest_aging(args: argparse.Namespace, seeds: Sequence[int]) -> int:
    """One day replayed with each aging bound; the suggestion, with the PATCH that confirms it."""
    from simulation import aging

    if args.queue is None and (len(seeds) != 1 or args.scenario in (None, "all")):
        print(
            "--suggest-aging reads one day: --queue, or one --scenario and --seed", file=sys.stderr
        )
        return 2
    try:
        if args.queue is not None:
            events, day = _stored(args.queue, args.date)
        else:
            events, day = _recorded(args.scenario, seeds[0], args.days)
        recorded = learn(events, day)
        result = what_if(events, day, aging.plans(recorded), runs=args.runs)
    except (ValueError, OSError) as exc:
        print(f"vq simulate --what-if: {exc}", file=sys.stderr)
        return 2
    found = aging.suggest(result)
    if args.json:
        body = found.patch(recorded) if found else None
        print(json.dumps({**result.as_dict(), "suggested_patch": body}, indent=2))
    else:
        print(aging.report(result, args.queue))
    return 0


def _recorded(name: str, seed: int, days: int | None) -> tuple[list[QueueEvent], date]:
    """A scenario's days played offline: the events, and the last day (the one to replay)."""
    scenario = load(name)
    days = HISTORY_DAYS + 1 if days is None else days
    if days < 1:
        raise ValueError("--days must be at least 1")
    events = asyncio.run(decide_locally(commands(scenario, days=days, seed=seed)))
    return events, day_plans(scenario, days)[-1].day


def read_stored(queue_id: str) -> list[QueueEvent]:
    """Every event of queue `queue_id` in the event store (VQ_ENV's PostgreSQL)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from core.settings import get_settings
    from eventstore.pool import open_pool
    from eventstore.postgres import PostgresEventStore

    async def read() -> list[QueueEvent]:
        pool = await open_pool(get_settings(), min_size=1, max_size=1, wait=True)
        try:
            records = await PostgresEventStore(pool).read_stream(queue_id, 0)
        finally:
            await pool.close()
        return [r.event for r in records]

    try:
        uuid.UUID(queue_id)
    except ValueError:
        raise ValueError(f"--queue {queue_id!r} is no queue id (a UUID)") from None
    try:
        events = asyncio.run(read())
    except (psycopg.Error, PoolTimeout) as exc:
        raise OSError(f"the event store is not reachable ({type(exc).__name__})") from None
    if not events:
        raise ValueError(f"no queue {queue_id!r} in the event store")
    return events


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--date {text!r} is no YYYY-MM-DD date") from None


def _stored(queue_id: str, day: str | None) -> tuple[list[QueueEvent], date]:
    events = read_stored(queue_id)
    if day is not None:
        return events, parse_day(day)
    opened = [e for e in events if isinstance(e, QueueOpened)]
    config = config_of(events)
    if not opened or config is None:
        raise NoDay(f"queue {queue_id!r} never opened")
    return events, opened[-1].at.astimezone(zone(config.timezone)).date()


def _plans(events: Sequence[QueueEvent], day: date, args: argparse.Namespace) -> list[Plan]:
    """The change asked for, as one plan (a counter more in the busiest two hours if none)."""
    recorded = learn(events, day)
    plan = own_plan(recorded)
    first_come = args.policy == "first-come"
    changed = (
        args.add_counter or args.remove_counter or args.aging_minutes is not None or first_come
    )
    adds = args.add_counter if changed else [DEFAULT_CHANGE]
    labels: list[str] = []
    for text in adds:
        window = parse_window(text, recorded)
        plan = replace(plan, shifts=add_counter(plan.shifts, window))
        labels.append(f"+1 counter {window.label()}")
    for text in args.remove_counter:
        window = parse_window(text, recorded)
        plan = replace(plan, shifts=remove_counter(plan.shifts, window))
        labels.append(f"-1 counter {window.label()}")
    if args.aging_minutes is not None:
        aging = args.aging_minutes * 60 or None
        plan = replace(plan, config=replace(plan.config, aging_after_seconds=aging))
        labels.append(f"aging {args.aging_minutes} min" if aging else "no aging")
    if first_come:
        one = plan.config.default_priority
        config = replace(plan.config, priority_classes=(one,), aging_max_priority=None)
        plan = replace(plan, config=config)
        labels.append("first come, first served")
    return [replace(plan, label=", ".join(labels))]


# Reports ---------------------------------------------------------------------------------------


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


ROWS = (
    ("people who joined", "joined", str),
    ("called", "called", str),
    ("served", "served", str),
    ("cancelled (gave up)", "cancelled", str),
    ("no-shows", "no_shows", str),
    ("mean wait", "mean_wait", as_minutes),
    ("P90 wait", "p90_wait", as_minutes),
    ("called within target", "within_target", as_percent),
    ("told, then waited > 2x", "over_twice", as_percent),
    ("counter-hours", "counter_hours", lambda h: f"{h:.1f} h"),
    ("last service ended", "finished", _clock),
)


def table(case: str, result: WhatIf) -> str:
    day: RecordedDay = result.day
    runs = len(result.variants[0].runs)
    head = ["", "real day", *(f"replay: {v.plan.label}" for v in result.variants)]
    rows = [head]
    for title, name, show in ROWS:
        real = getattr(result.real, name)
        cells = [title, "-" if real is None else show(real)]
        for v in result.variants:
            value = v.median(name) if name != "counter_hours" else counter_hours(v.plan.shifts)
            cells.append("-" if value is None else show(round(value) if show is str else value))
        rows.append(cells)
        if name == "p90_wait" and len(result.real.class_waits) > 1:
            rows += _class_rows(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        f"What-if: {case}, {day.config.name!r} on {day.day.isoformat()} ({day.day:%A}); "
        f"replays are the median of {runs} runs",
        "",
    ]
    for row in rows:
        pairs = enumerate(zip(row, widths, strict=True))
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in pairs))
    lines.append("")
    lines.append(_verdict(result))
    for variant in result.variants[1:]:
        lines.append(_gain(result, variant))
    return "\n".join(lines)


def _class_rows(result: WhatIf) -> list[list[str]]:
    """Mean wait per class (as each person was on the real day), highest class first."""
    real = dict(result.real.class_waits)
    order = [c for c in result.day.config.priority_classes if c in real]
    rows = []
    for priority in order:
        cells = [f"  mean wait: {priority}", as_minutes(real[priority])]
        cells += [as_minutes(v.class_wait(priority)) for v in result.variants]
        rows.append(cells)
    return rows


def _verdict(result: WhatIf) -> str:
    own = result.variants[0]
    mean, p90 = result.change("mean_wait", own), result.change("p90_wait", own)
    held = "holds" if result.model_holds() else "does NOT hold: read the changes with care"
    return (
        f"Model check: the replay as staffed is {as_change(mean)} on the mean wait and "
        f"{as_change(p90)} on the P90 of the real day: the model {held} "
        f"(within {MODEL_TOLERANCE:.0%})."
    )


def _gain(result: WhatIf, variant: Variant) -> str:
    own = result.variants[0]
    mean = result.change("mean_wait", variant, own.median("mean_wait"))
    p90 = result.change("p90_wait", variant, own.median("p90_wait"))
    hours = counter_hours(variant.plan.shifts) - counter_hours(own.plan.shifts)
    return (
        f"{variant.plan.label}: mean wait {as_change(mean)}, P90 {as_change(p90)} against the "
        f"replay as staffed, for {hours:+.1f} counter-hours."
    )


def sweep(results: Sequence[tuple[str, WhatIf]]) -> str:
    lines = [
        f"{'case':<26}  real mean  replay mean  real P90  replay P90  model  change: mean / P90"
    ]
    for case, r in results:
        own = r.variants[0]
        extra = r.variants[1] if len(r.variants) > 1 else None
        gain = (
            f"{as_change(r.change('mean_wait', extra, own.median('mean_wait')))} / "
            f"{as_change(r.change('p90_wait', extra, own.median('p90_wait')))}"
            if extra
            else "-"
        )
        lines.append(
            f"{case:<26}  {as_minutes(r.real.mean_wait):>9}  "
            f"{as_minutes(own.median('mean_wait')):>11}"
            f"  {as_minutes(r.real.p90_wait):>8}  {as_minutes(own.median('p90_wait')):>10}"
            f"  {'ok' if r.model_holds() else 'OFF':>5}  {gain}"
        )
    held = sum(1 for _, r in results if r.model_holds())
    lines.append(
        f"the replay as staffed within {MODEL_TOLERANCE:.0%} of the real mean and P90: "
        f"{held} of {len(results)}"
    )
    return "\n".join(lines)
