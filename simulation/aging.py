"""An aging bound suggested from a real day (`vq simulate --what-if --suggest-aging`).

The fairness figure is the share of people called who waited more than twice the P50 they were
told when they joined. Where a queue has several priority classes, much of that comes from people
overtaken again and again by higher classes, which is what aging bounds: a ticket moves a class up
each time it has waited the bound. The day is replayed (the what-if replay, fresh randomness for
what the day cannot tell) with no aging and with bounds of 0.5x to 3x the queue's target wait;
the suggestion is the bound with the lowest fairness figure whose mean wait stays within
`MEAN_WAIT_SLACK` of the day as configured, if it does better than the configuration by at least
`MIN_GAIN`. A suggestion changes nothing: it prints the change for a person to confirm, with its
reason (which the queue keeps on its QueueReconfigured event).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from domain.config import QueueConfig
from simulation.formats import as_minutes, as_percent
from simulation.recorded import RecordedDay
from simulation.replay import Plan, own_plan
from simulation.whatif import Variant, WhatIf

FACTORS = (0.5, 1.0, 1.5, 2.0, 3.0)  # of the queue's target wait
MEAN_WAIT_SLACK = 0.10
MIN_GAIN = 0.01  # one point of the fairness figure


def _bound_minutes(seconds: float) -> int:
    return max(5, round(seconds / 60 / 5) * 5)


def plans(day: RecordedDay) -> list[Plan]:
    """No aging, then each candidate bound (the configured one aside: it is the first replay)."""
    own = own_plan(day)
    current = day.config.aging_after_seconds
    bounds = sorted({_bound_minutes(f * day.config.target_wait_seconds) for f in FACTORS})
    found = [] if current is None else [replace(own, label="no aging", config=_aging(own, None))]
    for minutes in bounds:
        if current is None or minutes * 60 != current:
            found.append(replace(own, label=f"aging {minutes} min", config=_aging(own, minutes)))
    return found


def _aging(plan: Plan, minutes: int | None) -> QueueConfig:
    return replace(plan.config, aging_after_seconds=None if minutes is None else minutes * 60)


@dataclass(frozen=True, slots=True)
class Suggestion:
    aging_minutes: int | None  # None: turn aging off
    over_twice: float
    was: float
    mean_change: float

    def reason(self, day: RecordedDay) -> str:
        bound = "off" if self.aging_minutes is None else f"{self.aging_minutes} min"
        return (
            f"aging {bound}: suggested by vq simulate --what-if --suggest-aging replaying "
            f"{day.day.isoformat()}; told, then waited over 2x: {100 * self.was:.1f} % -> "
            f"{100 * self.over_twice:.1f} %, mean wait {100 * self.mean_change:+.1f} %"
        )

    def patch(self, day: RecordedDay) -> dict[str, object]:
        seconds = None if self.aging_minutes is None else self.aging_minutes * 60
        return {"aging_after_seconds": seconds, "reason": self.reason(day)}


def _bound(variant: Variant) -> int | None:
    seconds = variant.plan.config.aging_after_seconds
    return None if seconds is None else seconds // 60


def suggest(result: WhatIf) -> Suggestion | None:
    """The bound to suggest, or None when the configuration is as fair as any candidate."""
    own = result.variants[0]
    was, mean = own.median("over_twice"), own.median("mean_wait")
    if was is None or mean is None or was == 0:
        return None
    best: Suggestion | None = None
    for variant in result.variants[1:]:
        share, wait = variant.median("over_twice"), variant.median("mean_wait")
        if share is None or wait is None or wait > mean * (1 + MEAN_WAIT_SLACK):
            continue
        if best is None or share < best.over_twice:
            best = Suggestion(_bound(variant), share, was, wait / mean - 1 if mean else 0.0)
    if best is None or best.over_twice > was - MIN_GAIN:
        return None
    return best


def report(result: WhatIf, queue_id: str | None) -> str:
    """Each bound's figures, then the suggestion and how to confirm it (or why there is none)."""
    day = result.day
    runs = len(result.variants[0].runs)
    lines = [
        f"Aging: {day.config.name!r} on {day.day.isoformat()} ({day.day:%A}), medians of "
        f"{runs} replays; configured: {_label(day.config.aging_after_seconds)}",
        "",
        f"{'replay':<18}  told, then waited > 2x  mean wait  P90 wait",
    ]
    for variant in result.variants:
        label = "as configured" if variant is result.variants[0] else variant.plan.label
        lines.append(
            f"{label:<18}  {as_percent(variant.median('over_twice')):>22}  "
            f"{as_minutes(variant.median('mean_wait')):>9}  "
            f"{as_minutes(variant.median('p90_wait')):>8}"
        )
    lines.append("")
    if len(day.config.priority_classes) < 2:
        lines.append(
            "One priority class: nobody is overtaken, so no aging bound changes the order."
        )
        return "\n".join(lines)
    found = suggest(result)
    if found is None:
        lines.append("No suggestion: no bound is fairer by a point without costing the mean wait.")
        return "\n".join(lines)
    lines.append(f"Suggested: {found.reason(day)}.")
    lines.append(
        "Nothing changes until a person confirms it; to confirm, send (with a manager key):"
    )
    target = f"/v1/queues/{queue_id}" if queue_id else "/v1/queues/<queue id>"
    lines.append(f"  PATCH {target}  {json.dumps(found.patch(day))}")
    return "\n".join(lines)


def _label(seconds: int | None) -> str:
    return "no aging" if seconds is None else f"aging {seconds // 60} min"
