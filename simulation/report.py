"""Plain-text tables of an offline run, and the acceptance check.

Acceptance (issue 5): the served estimator reaches at least 90% of the oracle's within-20%
share (paired: on the tickets the oracle estimated) and its P10..P90 range holds 75-85% of the
waits, on every scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.estimation.accuracy import AccuracyFigures
from simulation.learner import LEARNER
from simulation.offline import ORACLE, RunResult

ORDER = ("rules", "learned", "served", ORACLE, LEARNER)
MIN_RATIO = 0.90
COVERAGE = (0.75, 0.85)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:7.0f}"


def _ordered(figures: dict[str, AccuracyFigures]) -> list[AccuracyFigures]:
    known = [figures[n] for n in ORDER if n in figures]
    return known + [f for n, f in sorted(figures.items()) if n not in ORDER]


def passes(result: RunResult) -> bool:
    served = result.figures.get("served")
    ratio = result.ratio("served")
    if served is None or served.coverage is None or ratio is None:
        return False
    return ratio >= MIN_RATIO and COVERAGE[0] <= served.coverage <= COVERAGE[1]


def table(result: RunResult, description: str = "") -> str:
    lines = []
    scored = result.days - result.warmup_days
    title = f"{result.scenario}: {description}" if description else result.scenario
    lines.append(title)
    lines.append(
        f"  {result.days} days (seed {result.seed}): the first {result.warmup_days} warm the "
        f"estimators up, the other {scored} are scored; oracle asked for 1 ticket in "
        f"{result.oracle_every}; {result.seconds:.1f} s ({result.oracle_seconds:.1f} s oracle)"
    )
    totals = result.totals
    lines.append(
        "  outcomes: "
        + ", ".join(
            f"{k} {totals.get(k, 0)}" for k in ("arrived", "served", "no_show", "cancelled")
        )
    )
    header = (
        f"  {'estimator':<10}{'tickets':>8}{'called':>8}{'excluded':>9}{'MAE (s)':>9}"
        f"{'within 20%':>12}{'P10..P90':>10}{'vs oracle':>11}{'over 2x':>9}"
    )
    lines.append(header)
    for figures in _ordered(result.figures):
        ratio = result.ratio(figures.estimator)
        vs = "-" if ratio is None else f"{100 * ratio:5.1f}%"
        lines.append(
            f"  {figures.estimator:<10}{figures.estimated:>8}{figures.called:>8}"
            f"{figures.cancelled + figures.transferred:>9}{_seconds(figures.mae):>9}"
            f"{_pct(figures.within):>12}{_pct(figures.coverage):>10}{vs:>11}"
            f"{_pct(figures.over_twice):>9}"
        )
    served = sum(result.served_by.values())
    if served:
        shares = ", ".join(
            f"{name} {100 * n / served:.0f}%" for name, n in sorted(result.served_by.items())
        )
        lines.append(f"  served: {shares} of the ranges shown at enqueue")
    oracle_pair = result.paired.get(ORACLE)
    served_pair = result.paired.get("served")
    if oracle_pair is not None and served_pair is not None:
        lines.append(
            f"  paired ({oracle_pair.called} called tickets the oracle estimated): "
            f"served {_pct(served_pair.within).strip()} vs oracle "
            f"{_pct(oracle_pair.within).strip()} within 20%"
        )
    warm = result.warmup
    if warm.get("served") is not None:
        bits = [
            f"{name} {_pct(warm[name].within).strip()} / {_pct(warm[name].coverage).strip()}"
            for name in ("served", ORACLE)
            if name in warm
        ]
        lines.append(f"  warm-up days (within 20% / coverage): {', '.join(bits)}")
    return "\n".join(lines)


def summary(results: Sequence[RunResult]) -> str:
    lines = [
        f"acceptance: served >= {100 * MIN_RATIO:.0f}% of the oracle's within-20% share and "
        f"{100 * COVERAGE[0]:.0f}-{100 * COVERAGE[1]:.0f}% P10..P90 coverage"
    ]
    for result in results:
        served = result.figures.get("served")
        ratio = result.ratio("served")
        coverage = None if served is None else served.coverage
        verdict = "PASS" if passes(result) else "FAIL"
        lines.append(
            f"  {result.scenario:<15} vs oracle {_pct(ratio)}   coverage {_pct(coverage)}   "
            f"{verdict}"
        )
    return "\n".join(lines)


def sweep(results: Sequence[RunResult]) -> str:
    """One line a run (scenario x seed), then how many pass: the acceptance table (with the
    learning oracle's ratio to the oracle when it ran)."""
    learner = any(LEARNER in r.paired for r in results)
    lines = [
        f"acceptance: served >= {100 * MIN_RATIO:.0f}% of the oracle's within-20% share and "
        f"{100 * COVERAGE[0]:.0f}-{100 * COVERAGE[1]:.0f}% P10..P90 coverage, every run",
        f"  {'scenario':<15}{'seed':>5}{'days':>6}{'served':>9}{'oracle':>9}{'vs oracle':>11}"
        f"{'coverage':>10}{'MAE (s)':>9}{'oracle MAE':>11}  verdict"
        + (f"  {'learner vs oracle':>17}" if learner else ""),
    ]
    for r in sorted(results, key=lambda r: (r.scenario, r.seed)):
        served, oracle = r.paired.get("served"), r.paired.get(ORACLE)
        figures = r.figures.get("served")
        lines.append(
            f"  {r.scenario:<15}{r.seed:>5}{r.days:>6}"
            f"{_pct(None if served is None else served.within):>9}"
            f"{_pct(None if oracle is None else oracle.within):>9}"
            f"{_pct(r.ratio('served')):>11}"
            f"{_pct(None if figures is None else figures.coverage):>10}"
            f"{_seconds(None if figures is None else figures.mae):>9}"
            f"{_seconds(None if oracle is None else oracle.mae):>11}"
            f"  {'PASS' if passes(r) else 'FAIL'}"
            + (f"  {_pct(r.ratio(LEARNER)):>17}" if learner else "")
        )
    passed = sum(passes(r) for r in results)
    lines.append(f"  {passed} of {len(results)} runs pass")
    return "\n".join(lines)


def as_json(result: RunResult) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "days": result.days,
        "warmup_days": result.warmup_days,
        "seed": result.seed,
        "oracle_every": result.oracle_every,
        "seconds": round(result.seconds, 2),
        "figures": {n: f.as_dict() for n, f in result.figures.items()},
        "paired": {n: f.as_dict() for n, f in result.paired.items()},
        "warmup": {n: f.as_dict() for n, f in result.warmup.items()},
        "served_by": result.served_by,
        "ratio": result.ratio("served"),
        "passes": passes(result),
    }
