"""`vq simulate`: play scenarios offline through the estimators, or live through the HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date

from domain.hours import parse_hhmm
from eventstore.errors import StoreUnavailable
from simulation import anomalies, routing_cli, staffing_cli, whatif_cli
from simulation.learner import KNOWABLE
from simulation.offline import RunResult, run
from simulation.report import as_json, passes, summary, sweep, table
from simulation.scenario import Scenario, load, shipped

# Three working weeks: the first is the warm-up (the estimators start cold and learn the rota of
# each weekday once), the other two are scored. About 20 s on two cores.
DEFAULT_DAYS = 15
DEFAULT_WARMUP = 5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="simulate service days: offline through the estimators, or live through the API",
        description=(
            "Simulate service days of a scenario (arrivals, skewed services, breaks, priorities, "
            "no-shows, walk-aways). --offline folds the events through the wait-time estimators "
            "next to an oracle, with no server. --live sends the commands to the running product "
            "through its HTTP API, timed by the API's clock: start the API with VQ_CLOCK_START "
            "(a few minutes before the scenario opens on its first day, e.g. "
            "2024-03-04T07:55:00+01:00 for the clinic) and VQ_CLOCK_SPEED (60: an hour a minute)."
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="fold locally (no server)")
    mode.add_argument("--live", action="store_true", help="drive the running API (--api)")
    mode.add_argument(
        "--anomalies",
        action="store_true",
        help="the unusual-arrivals watch on scenario days with a rush injected: how soon it "
        "tells, and its false alerts",
    )
    mode.add_argument(
        "--staffing",
        action="store_true",
        help="plan the counters per quarter hour of a coming day from a queue's (or a "
        "--scenario's) history, checked by simulation",
    )
    mode.add_argument(
        "--what-if",
        action="store_true",
        help="replay a recorded day (a real --queue's, or a --scenario's) with other staffing",
    )
    mode.add_argument(
        "--routing",
        action="store_true",
        help="a scenario's counters as parallel queues: each newcomer sent at random, to the "
        "shortest line, or to the best expected wait, on the same people",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        help=f"a shipped scenario ({', '.join(shipped())}), "
        "a path to a scenario .toml, or (offline, the default) 'all'",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--date",
        default=None,
        metavar="YYYY-MM-DD",
        help="play the scenario's days from this date instead of its own (live: e.g. this "
        "week, as analytics keep VQ_ANALYTICS_RETENTION_DAYS back from now; offline: to "
        "compare with a live run of that date, whose weekday set its arrival rate)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of tables (live: the run's summary)"
    )
    _offline_arguments(parser.add_argument_group("offline mode"))
    _live_arguments(parser.add_argument_group("live mode"))
    whatif_cli.arguments(
        parser.add_argument_group("what-if mode (also --scenario, --seed(s), --days, --check)")
    )
    anomalies.arguments(
        parser.add_argument_group("anomalies mode (also --scenario, --seed(s), --days, --check)")
    )
    staffing_cli.arguments(
        parser.add_argument_group(
            "staffing mode (also --queue, --date, --scenario, --seed, --days, --chart, --check)"
        )
    )
    routing_cli.arguments(
        parser.add_argument_group(
            "routing mode (also --scenario NAME[,NAME], --seed(s), --days, --warmup-days, --check)"
        )
    )
    parser.set_defaults(func=_simulate)


def _live_arguments(live: argparse._ArgumentGroup) -> None:
    live.add_argument(
        "--api", default=None, help="the API's base URL (default: VQ_API_HOST and VQ_API_PORT)"
    )
    live.add_argument(
        "--hours",
        type=float,
        default=1.0,
        help="simulated hours to play, from the first day's opening (default 1)",
    )
    live.add_argument(
        "--from",
        dest="start",
        default=None,
        metavar="HH:MM",
        help="start the simulated days at this local time instead of the opening "
        "(the line starts empty)",
    )
    live.add_argument(
        "--key", default=None, help="an admin key of the tenant to play in (default: a new tenant)"
    )
    live.add_argument(
        "--finish-day",
        action="store_true",
        help="when the window reaches closing time, play the close and the day's tail too: the "
        "services under way end and the line is served out (make run's demo does)",
    )


def _offline_arguments(offline: argparse._ArgumentGroup) -> None:
    offline.add_argument(
        "--days",
        type=int,
        default=None,
        help=f"open days to simulate (default: the scenario's own, else {DEFAULT_DAYS})",
    )
    offline.add_argument(
        "--warmup-days",
        type=int,
        default=None,
        help="first days that warm the estimators up and are scored apart "
        f"(default: the scenario's own, else {DEFAULT_WARMUP})",
    )
    offline.add_argument(
        "--seeds",
        default=None,
        metavar="A-B|A,B,..",
        help="run every scenario on each of these seeds (e.g. 1-6) and print one line a run",
    )
    offline.add_argument("--samples", type=int, default=48, help="oracle Monte-Carlo samples")
    offline.add_argument(
        "--oracle-every",
        type=int,
        default=None,
        help="ask the oracle for one ticket in N (default: the scenario's own setting)",
    )
    offline.add_argument("--no-oracle", action="store_true", help="skip the oracle")
    offline.add_argument(
        "--learner",
        action="store_true",
        help="also score the learning oracle: the oracle's forward runs with what the day so far "
        "teaches (service times, arrival rate, class mix, no-shows) in place of the truth",
    )
    offline.add_argument(
        "--learner-knows",
        action="append",
        choices=KNOWABLE,
        default=[],
        help="give the learning oracle the truth of this part (arrivals: their rate and class "
        "mix; services: the service times), to see what of the oracle's lead is that part's "
        "(implies --learner; may be given twice)",
    )
    offline.add_argument("--jobs", type=int, default=None, help="scenarios run in parallel")
    offline.add_argument(
        "--check", action="store_true", help="exit 1 unless every scenario meets the acceptance"
    )


Work = tuple[
    str, int | None, int | None, int, int, int | None, bool, str | None, bool, tuple[str, ...]
]


def _one(args: Work) -> RunResult:
    name, days, warmup, seed, samples, every, oracle, day, learner, knows = args
    scenario = load(name)
    if day is not None:
        scenario = replace(scenario, start=_date(day))
    days, warmup = resolve_days(scenario, days, warmup)
    return run(
        scenario,
        days=days,
        seed=seed,
        warmup_days=warmup,
        oracle=oracle,
        samples=samples,
        oracle_every=every if every is not None else scenario.oracle_every,
        learner=learner or bool(knows),
        learner_knows=knows,
    )


def resolve_days(scenario: Scenario, days: int | None, warmup: int | None) -> tuple[int, int]:
    """The days to play and to warm up on: as asked, else the scenario's own, else defaults."""
    if days is None:
        days = scenario.days or DEFAULT_DAYS
    if warmup is None:
        warmup = scenario.warmup_days if scenario.warmup_days is not None else DEFAULT_WARMUP
    return days, min(warmup, days - 1)


def parse_seeds(text: str) -> list[int]:
    """'1-6' or '1,3,5' (or a mix) as a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if dash:
            seeds.extend(range(int(low), int(high) + 1))
        elif low:
            seeds.append(int(low))
    if not seeds:
        raise ValueError(f"no seeds in {text!r}")
    return seeds


def _simulate(args: argparse.Namespace) -> int:
    if args.live:
        return _live(args)
    if args.staffing:
        return staffing_cli.run(args)
    if args.what_if or args.anomalies or args.routing:
        try:
            seeds = [args.seed] if args.seeds is None else parse_seeds(args.seeds)
        except ValueError as exc:
            print(f"--seeds: {exc}", file=sys.stderr)
            return 2
        if args.anomalies:
            return anomalies.cli_run(args, seeds)
        if args.routing:
            return routing_cli.run(args, seeds)
        return whatif_cli.run(args, seeds)
    if not args.offline:
        print(
            "choose a mode: --offline (no server), --live (through the running API), "
            "--what-if (replay a recorded day), --staffing (plan a day), --anomalies or "
            "--routing (parallel queues)",
            file=sys.stderr,
        )
        return 2
    return _offline(args)


def _live(args: argparse.Namespace) -> int:
    from core.settings import get_settings
    from simulation import live  # httpx and psycopg: only when driving an API

    start = None if args.start is None else parse_hhmm(args.start)
    if args.scenario in (None, "all") or (args.start is not None and start is None):
        print("--live plays one --scenario NAME (and --from takes HH:MM)", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        scenario = load(args.scenario)
        if args.date is not None:
            scenario = replace(scenario, start=_date(args.date))
        options = live.LiveOptions(
            api=(args.api or f"http://{settings.api_host}:{settings.api_port}").rstrip("/"),
            scenario=scenario,
            hours=args.hours,
            start_minute=start,
            seed=args.seed,
            key=args.key,
            finish_day=args.finish_day,
        )
    except (ValueError, OSError) as exc:
        print(f"vq simulate: {exc}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(live.run(options, settings, _say))
    except (live.LiveError, StoreUnavailable) as exc:
        print(f"vq simulate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.as_json(), indent=2) if args.json else live.summary(result))
    return 0


def _say(line: str) -> None:
    """Progress goes to stderr, so that stdout holds the summary alone (--json)."""
    print(line, file=sys.stderr, flush=True)


def _offline(args: argparse.Namespace) -> int:
    if (args.days is not None and args.days < 1) or (
        args.warmup_days is not None
        and (args.warmup_days < 0 or (args.days is not None and args.warmup_days >= args.days))
    ):
        print("need --days >= 1 and 0 <= --warmup-days < --days", file=sys.stderr)
        return 2
    names = shipped() if args.scenario in (None, "all") else [args.scenario]
    try:
        if args.date is not None:
            _date(args.date)  # refused here, not in a worker process
        scenarios = {name: load(name) for name in names}
        seeds = [args.seed] if args.seeds is None else parse_seeds(args.seeds)
    except (ValueError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    descriptions = {s.name: s.description for s in scenarios.values()}
    # The busiest first, so the others share the remaining workers meanwhile.
    busiest = sorted(names, key=lambda n: -scenarios[n].max_rate_per_hour())
    work: list[Work] = [
        (
            name,
            args.days,
            args.warmup_days,
            seed,
            args.samples,
            args.oracle_every,
            not args.no_oracle,
            args.date,
            args.learner,
            tuple(args.learner_knows),
        )
        for seed in seeds
        for name in busiest
    ]
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, len(work)))
    if jobs == 1:
        done = [_one(item) for item in work]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_one, work))
    by_key = {(r.scenario, r.seed): r for r in done}
    results = [by_key[(scenarios[n].name, seed)] for seed in seeds for n in names]
    if args.json:
        print(json.dumps([as_json(r) for r in results], indent=2))
    elif len(seeds) > 1:
        print(sweep(results))
    else:
        for result in results:
            print(table(result, descriptions[result.scenario]))
            print()
        if not args.no_oracle:
            print(summary(results))
    if args.check and not all(passes(r) for r in results):
        return 1
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"--date {text!r} is no YYYY-MM-DD date ({exc})") from None
