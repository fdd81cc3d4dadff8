"""`vq simulate --routing`: the command line of the routing comparison (`simulation.routing`).

Each scenario and seed is played once per policy on the same people; the report gives, per
policy, who joined, was served and gave up, the mean and P90 wait and the share called within
the queue's target wait, then what `best` changes against `random`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from simulation.formats import as_change, as_minutes, as_percent
from simulation.routing import (
    DEFAULT_DAYS,
    DEFAULT_QUEUES,
    DEFAULT_WARMUP,
    POLICIES,
    Comparison,
    PolicyRun,
    compare,
)
from simulation.scenario import load, names


def arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--queues",
        type=int,
        default=DEFAULT_QUEUES,
        help="parallel queues the scenario's counters are dealt into (no more than there are "
        f"counters; default {DEFAULT_QUEUES}); they play --days days (here default "
        f"{DEFAULT_DAYS}), the first --warmup-days (here default {DEFAULT_WARMUP}) not scored",
    )


def run(args: argparse.Namespace, seeds: Sequence[int]) -> int:
    days = DEFAULT_DAYS if args.days is None else args.days
    warmup = DEFAULT_WARMUP if args.warmup_days is None else args.warmup_days
    if args.queues < 2 or days < 1 or not 0 <= warmup < days:
        print("need --queues >= 2, --days >= 1 and 0 <= --warmup-days < --days", file=sys.stderr)
        return 2
    try:
        scenarios = [load(name) for name in names(args.scenario)]
    except (ValueError, OSError) as exc:
        print(f"vq simulate --routing: {exc}", file=sys.stderr)
        return 2
    results: list[Comparison] = []
    cases = [(scenario, seed) for seed in seeds for scenario in scenarios]
    for n, (scenario, seed) in enumerate(cases, 1):
        result = compare(scenario, seed=seed, queues=args.queues, days=days, warmup_days=warmup)
        results.append(result)
        if len(cases) > 1:  # progress, on stderr: stdout holds the report alone
            print(f"[{n}/{len(cases)}] {_case(result)}: {_gains(result)}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print("\n\n".join(table(r) for r in results))
        if len(results) > 1:
            print()
            print(sweep(results))
    if args.check and not all(r.best_wins() for r in results):
        return 1
    return 0


def _case(result: Comparison) -> str:
    return f"{result.scenario} seed {result.seed}"


def _gains(result: Comparison) -> str:
    return (
        f"best against random: mean wait {as_change(result.gain('mean_wait'))}, "
        f"P90 {as_change(result.gain('p90_wait'))}"
    )


def _row(run: PolicyRun) -> list[str]:
    f = run.figures
    return [
        run.policy,
        str(f.joined),
        str(f.served),
        str(run.gave_up),
        as_minutes(f.mean_wait),
        as_minutes(f.p90_wait),
        as_percent(f.within_target),
        " / ".join(str(n) for _, n in run.joined_by_queue),
    ]


def table(result: Comparison) -> str:
    queues = "; ".join(
        f"{name}: counter{'s' if len(counters) > 1 else ''} {', '.join(counters)}"
        for name, counters in result.queues
    )
    scored = result.days - result.warmup_days
    head = ["policy", "joined", "served", "gave up", "mean wait", "P90 wait", "within target"]
    rows = [[*head, "joined per queue"], *(_row(r) for r in result.runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) + 1)]
    lines = [
        f"Routing: {_case(result)}, {len(result.queues)} queues ({queues}); "
        f"the last {scored} of {result.days} days (the first {result.warmup_days} warm the "
        "estimators up)",
        "",
    ]
    for row in rows:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = (c.ljust(w) if i in (0, len(head)) else c.rjust(w) for i, (c, w) in pairs)
        lines.append("  ".join(cells).rstrip())
    lines += ["", f"{_gains(result)}  ({result.seconds:.1f} s)"]
    return "\n".join(lines)


def sweep(results: Sequence[Comparison]) -> str:
    """One line a run: the mean wait of each policy and the gain of best against random."""
    policies = "  ".join(p.rjust(9) for p in POLICIES)
    lines = [f"{'mean wait':<26}  {policies}  best vs random: mean / P90"]
    for r in results:
        means = [as_minutes(run.figures.mean_wait) for run in r.runs]
        lines.append(
            f"{_case(r):<26}  {'  '.join(m.rjust(9) for m in means)}  "
            f"{as_change(r.gain('mean_wait'))} / {as_change(r.gain('p90_wait'))}"
        )
    wins = sum(1 for r in results if r.best_wins())
    lines.append(f"best lowers the mean wait against random on {wins} of {len(results)} runs")
    return "\n".join(lines)
