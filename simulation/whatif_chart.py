"""`vq simulate --what-if --chart FILE.png` and `--staffing --chart`: what a manager reads.

What-if: two panels over the hours of the day: the mean wait of the people who joined in each half hour
(the real day, and each plan's replays: their median, with the range of the runs shaded), and the
counters working in each quarter hour (the real day's as inferred, and each plan's). Staffing:
the people expected per quarter hour and the counters planned. Imported
only when asked for: matplotlib is a development dependency (`pip install -e .[dev]`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from simulation.recorded import RecordedDay, Visit
from simulation.replay import SLOT_S, Shifts
from simulation.staffing import StaffingPlan
from simulation.whatif import WhatIf

BIN_S = 1800.0  # waits are shown per half hour of joining


def _waits(visits: Sequence[Visit], bins: Sequence[float]) -> list[float | None]:
    found: list[float | None] = []
    for start in bins:
        waits = [
            w for v in visits if start <= v.arrived < start + BIN_S and (w := v.wait) is not None
        ]
        found.append(statistics.fmean(waits) / 60.0 if waits else None)
    return found


def _working(shifts: Shifts, slots: Sequence[float]) -> list[float]:
    return [
        sum(
            max(0.0, min(e, t + SLOT_S) - max(s, t)) / SLOT_S
            for spans in shifts.values()
            for s, e in spans
        )
        for t in slots
    ]


def draw(result: WhatIf, path: Path) -> None:
    day = result.day
    first = BIN_S * int(day.opens // BIN_S)
    last = max(day.closes, max((v.arrived for v in day.visits), default=day.closes))
    bins = [first + BIN_S * k for k in range(int((last - first) // BIN_S) + 1)]
    hours = [(b + BIN_S / 2) / 3600.0 for b in bins]
    figure, (waits, staff) = plt.subplots(
        2, 1, figsize=(10, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    waits.plot(hours, _waits(day.visits, bins), "k-o", label="real day", linewidth=2)
    colours: dict[str, str] = {}
    for variant in result.variants:
        per_run = [_waits(visits, bins) for visits in variant.visits]
        median: list[float | None] = []
        low: list[float | None] = []
        high: list[float | None] = []
        for k in range(len(bins)):
            values = [v for r in per_run if (v := r[k]) is not None]
            median.append(statistics.median(values) if values else None)
            low.append(min(values) if values else None)
            high.append(max(values) if values else None)
        (line,) = waits.plot(hours, median, "-", label=f"replay: {variant.plan.label}")
        colours[variant.plan.label] = line.get_color()
        shade = [(h, a, b) for h, a, b in zip(hours, low, high, strict=True) if a is not None]
        if shade:
            xs, lows, highs = zip(*shade, strict=True)
            waits.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.15)
    target = day.config.target_wait_seconds / 60.0
    waits.axhline(target, color="grey", linestyle=":", label=f"target {target:.0f} min")
    waits.set_ylabel("mean wait of those joining (min)")
    waits.set_title(f"What-if: {day.config.name}, {day.day.isoformat()} ({day.day:%A})")
    waits.legend(loc="upper left", fontsize="small")
    waits.grid(alpha=0.3)
    slots = [SLOT_S * k for k in range(int(first // SLOT_S), int(last // SLOT_S) + 2)]
    at = [s / 3600.0 for s in slots]
    staff.step(at, _working(day.shifts, slots), where="post", color="k", label="real day")
    for variant in result.variants[1:]:
        counts = _working(variant.plan.shifts, slots)
        colour = colours[variant.plan.label]
        staff.step(at, counts, where="post", color=colour, label=variant.plan.label)
    staff.set_ylabel("counters working")
    staff.set_xlabel("hour of the day (local)")
    staff.legend(loc="upper left", fontsize="small")
    staff.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_plan(found: StaffingPlan, last: RecordedDay, path: Path) -> None:
    """The staffing plan: people expected to join per quarter hour (bars) and the counters
    planned (a step line), with the last day of history's counters for comparison."""
    fc = found.forecast
    at = [s / 3600.0 for s in fc.slots]
    figure, joining = plt.subplots(figsize=(10, 5))
    joining.bar(
        [a + SLOT_S / 7200.0 for a in at],
        fc.arrivals,
        width=SLOT_S / 3600.0 * 0.9,
        color="#c8d6e5",
        label="people joining (forecast per quarter hour)",
    )
    joining.set_ylabel("people joining per quarter hour")
    joining.set_xlabel("hour of the day (local)")
    counters = joining.twinx()
    edges = [*at, at[-1] + SLOT_S / 3600.0]
    counters.step(
        edges,
        [*found.counts, found.counts[-1]],
        where="post",
        color="#d35400",
        linewidth=2.2,
        label="counters planned",
    )
    counters.step(
        edges,
        [*_working(last.shifts, fc.slots), 0],
        where="post",
        color="k",
        linestyle="--",
        linewidth=1,
        label=f"counters on {last.day.isoformat()}",
    )
    counters.set_ylabel("counters working")
    counters.set_ylim(0, max(found.counts) + 1)
    handles = joining.get_legend_handles_labels()
    more = counters.get_legend_handles_labels()
    joining.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize="small")
    under = sum(1 for r in found.checked if r.under)
    joining.set_title(
        f"Staffing plan: {last.config.name}, {fc.day.isoformat()} ({fc.day:%A}): P90 within "
        f"{found.target / 60:.0f} min on {under} of {len(found.checked)} simulated days"
    )
    joining.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
