"""`vq simulate`: run the shipped scenarios (or a scenario file) through the estimators."""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from simulation.offline import RunResult, run
from simulation.report import as_json, passes, summary, table
from simulation.scenario import load, shipped

# Three working weeks: the first is the warm-up (the estimators start cold and learn the rota of
# each weekday once), the other two are scored. About 20 s on two cores.
DEFAULT_DAYS = 15
DEFAULT_WARMUP = 5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="simulate service days and score the wait-time estimators against an oracle",
        description=(
            "Simulate service days of a scenario (arrivals, skewed services, breaks, priorities, "
            "no-shows, walk-aways) and fold the events through the wait-time estimators. "
            "--offline needs no server."
        ),
    )
    parser.add_argument("--offline", action="store_true", help="fold locally (no server)")
    parser.add_argument(
        "--scenario", default="all", help=f"a shipped scenario ({', '.join(shipped())}), "
        "'all', or a path to a scenario .toml"
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="open days to simulate")
    parser.add_argument(
        "--warmup-days", type=int, default=DEFAULT_WARMUP,
        help="first days that warm the estimators up and are scored apart",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=int, default=48, help="oracle Monte-Carlo samples")
    parser.add_argument(
        "--oracle-every", type=int, default=None,
        help="ask the oracle for one ticket in N (default: the scenario's own setting)",
    )
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle")
    parser.add_argument("--jobs", type=int, default=None, help="scenarios run in parallel")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 unless every scenario meets the acceptance"
    )
    parser.set_defaults(func=_simulate)


def _one(args: tuple[str, int, int, int, int, int | None, bool]) -> RunResult:
    name, days, warmup, seed, samples, every, oracle = args
    scenario = load(name)
    return run(
        scenario,
        days=days,
        seed=seed,
        warmup_days=warmup,
        oracle=oracle,
        samples=samples,
        oracle_every=every if every is not None else scenario.oracle_every,
    )


def _simulate(args: argparse.Namespace) -> int:
    if not args.offline:
        print(
            "only the offline mode exists so far: run `vq simulate --offline` (the live mode, "
            "through the HTTP API, drives `simulation.world.commands` and is still to come)",
            file=sys.stderr,
        )
        return 2
    if args.days < 1 or args.warmup_days < 0 or args.warmup_days >= args.days:
        print("need --days >= 1 and 0 <= --warmup-days < --days", file=sys.stderr)
        return 2
    names = shipped() if args.scenario == "all" else [args.scenario]
    try:
        scenarios = {name: load(name) for name in names}
    except (ValueError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    descriptions = {s.name: s.description for s in scenarios.values()}
    # The busiest first, so the others share the remaining workers meanwhile.
    busiest = sorted(names, key=lambda n: -scenarios[n].max_rate_per_hour())
    work = [
        (name, args.days, args.warmup_days, args.seed, args.samples, args.oracle_every,
         not args.no_oracle)
        for name in busiest
    ]
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, len(work)))
    if jobs == 1:
        done = [_one(item) for item in work]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_one, work))
    by_name = {r.scenario: r for r in done}
    results = [by_name[scenarios[n].name] for n in names]
    if args.json:
        print(json.dumps([as_json(r) for r in results], indent=2))
    else:
        for result in results:
            print(table(result, descriptions[result.scenario]))
            print()
        if not args.no_oracle:
            print(summary(results))
    if args.check and not all(passes(r) for r in results):
        return 1
    return 0
