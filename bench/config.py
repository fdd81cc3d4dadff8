"""What one run measures and for how long: the full run or `BENCH_QUICK=1` (3 min 3 s measured, run 20261205T040944Z).

Environment: BENCH_QUICK=1, BENCH_RATES=250,500,... (offered command rates), BENCH_API_WORKERS
(uvicorn workers of the API under test, default 1), BENCH_STREAM_WORKERS (`vq worker` processes
of the followers phase, default 1), BENCH_PROFILE=0 (no py-spy profiles; the quick run's
default: BENCH_PROFILE=1 takes them),
BENCH_ONLY=ceilings,append,http,propagation,data,notifications,followers (some phases only),
BENCH_PROPAGATION_RATE (commands/s offered in the propagation phase; without the http phase to
find the knee, set it), BENCH_NOTIFY_RATE (messages/s offered to the notifier, default 834:
50,000 a minute), BENCH_NOTIFIERS (`vq notifier` processes, default 2), BENCH_FOLLOWERS=1000,5000,
10000 (live followers of one API process, one step each; quick: 1000), BENCH_PUSHES=1000,10000
(followers of the push-cost phase, bench/pushes.py; not in the quick run unless BENCH_ONLY names
it, then 1000), BENCH_PUSH_RATE (batch
messages/s it publishes, default 100), BENCH_PUSH_MIX=sse|ws|ticket|mixed (queue SSE streams,
queue WebSockets or ticket streams only, or the followers phase's mix), BENCH_SOAK=3600 (seconds of the soak phase, bench/soak.py; set without
BENCH_ONLY it runs the soak alone, BENCH_ONLY=...,soak adds it to others), BENCH_SOAK_RATE
(commands/s it offers, default 100), BENCH_WRK=8,32 (connections of each step of the same mix
from wrk after the HTTP sweep, bench/wrk.py; quick: 16; 0: none), BENCH_KEEP=1 (keep the schemas, topics and keys afterwards).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypedDict

PHASES = (
    "ceilings",
    "append",
    "http",
    "propagation",
    "data",
    "notifications",
    "followers",
    "pushes",
    "soak",  # only when asked for: BENCH_SOAK or BENCH_ONLY=soak
)


class CommonConfig(TypedDict):
    api_workers: int
    stream_workers: int
    profile: bool
    phases: tuple[str, ...]
    keep: bool
    propagation_rate: float
    notify_rate: float
    notifiers: int
    push_rate: float
    push_mix: str
    soak_s: float
    soak_rate: float


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    ceiling_s: float
    append_s: float
    rates: tuple[float, ...]
    step_s: float
    warmup_s: float
    propagation_s: float
    total_events: int
    lines: tuple[int, ...]
    busy_queues: int
    read_calls: int
    api_workers: int
    stream_workers: int  # `vq worker` processes of the followers phase (one consumer group)
    profile: bool
    phases: tuple[str, ...]
    keep: bool
    propagation_rate: float
    notify_rate: float  # messages/s (webhooks + emails) offered to the notifier
    notifiers: int  # `vq notifier` processes
    notify_s: float = 60  # the sustained step
    notify_fail_s: float = 30  # the step with the webhook receiver failing
    followers: tuple[int, ...] = (1_000, 5_000, 10_000)  # live followers, one step each
    follow_s: float = 30  # commands flowing while they follow, after the warm-up
    connections: int = 16  # the API's pool size: what the event store sees under load
    pushes: tuple[int, ...] = (1_000, 10_000)  # followers of the push-cost phase, one step each
    push_s: float = 20  # how long it publishes
    push_rate: float = 100  # batch messages/s it publishes (over 100 queues)
    push_mix: str = "sse"  # one kind of follower (sse, ws, ticket), or the followers' "mixed"
    soak_s: float = 3600  # how long the soak offers commands
    soak_rate: float = 100  # commands/s: well under the sustained rate, so drift shows, not load
    wrk: tuple[int, ...] = (8, 32)  # connections of each wrk step after the sweep (bench/wrk.py)
    wrk_s: float = 10  # how long each wrk step runs


def _rates(default: tuple[float, ...]) -> tuple[float, ...]:
    raw = os.environ.get("BENCH_RATES")
    return tuple(float(r) for r in raw.split(",")) if raw else default


def _followers(default: tuple[int, ...], name: str = "BENCH_FOLLOWERS") -> tuple[int, ...]:
    raw = os.environ.get(name)
    return tuple(int(n) for n in raw.replace("_", "").split(",")) if raw else default


def _wrk(default: tuple[int, ...]) -> tuple[int, ...]:
    """BENCH_WRK: the connections of each wrk step (0: none)."""
    return tuple(n for n in _followers(default, "BENCH_WRK") if n > 0)


def from_env() -> BenchConfig:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    only = os.environ.get("BENCH_ONLY")
    soak = os.environ.get("BENCH_SOAK", "") not in ("", "0")
    # BENCH_SOAK alone runs the soak alone: an hour is long enough without 15 more minutes.
    # The quick run leaves out the push-cost phase too (the followers phase pushes already).
    usual = [p for p in PHASES if p != "soak" and not (quick and p == "pushes")]
    wanted = only.split(",") if only else ["soak"] if soak else usual
    phases = tuple(p for p in PHASES if p in wanted or (p == "soak" and soak))
    common = CommonConfig(
        api_workers=int(os.environ.get("BENCH_API_WORKERS", "1")),
        stream_workers=int(os.environ.get("BENCH_STREAM_WORKERS", "1")),
        # Profiles cost time (py-spy, and the followers' extra window): the quick run's are off
        # unless asked for.
        profile=os.environ.get("BENCH_PROFILE", "0" if quick else "1") not in ("", "0"),
        phases=phases,
        keep=os.environ.get("BENCH_KEEP", "") not in ("", "0"),
        propagation_rate=float(os.environ.get("BENCH_PROPAGATION_RATE", "1000")),
        # 50,000 messages a minute (issue 11), rounded up to a whole number a second.
        notify_rate=float(os.environ.get("BENCH_NOTIFY_RATE", "834")),
        notifiers=int(os.environ.get("BENCH_NOTIFIERS", "2")),
        push_rate=float(os.environ.get("BENCH_PUSH_RATE", "100")),
        push_mix=os.environ.get("BENCH_PUSH_MIX", "sse"),
        soak_s=float(os.environ.get("BENCH_SOAK") or 0) or (300 if quick else 3600),
        soak_rate=float(os.environ.get("BENCH_SOAK_RATE", "100")),
    )
    if common["push_mix"] not in ("sse", "ws", "ticket", "mixed"):
        raise ValueError("BENCH_PUSH_MIX: sse, ws, ticket or mixed")
    if quick:
        return BenchConfig(
            quick=True,
            ceiling_s=2,
            append_s=2,
            rates=_rates((100, 300, 1000)),
            step_s=5,
            warmup_s=2,
            propagation_s=6,
            total_events=50_000,
            lines=(100, 1_000, 10_000),
            busy_queues=40,
            read_calls=300,
            notify_s=10,
            notify_fail_s=5,
            followers=_followers((1_000,)),
            follow_s=8,
            pushes=_followers((1_000,), "BENCH_PUSHES"),
            push_s=5,
            wrk=_wrk((16,)),
            wrk_s=5,
            **common,
        )
    return BenchConfig(
        quick=False,
        ceiling_s=6,
        append_s=6,
        rates=_rates((100, 200, 300, 500, 750, 1000, 1500, 2000, 3000)),
        step_s=15,
        warmup_s=3,
        propagation_s=20,
        total_events=1_000_000,
        lines=(100, 10_000, 100_000),
        busy_queues=200,
        read_calls=2000,
        followers=_followers((1_000, 5_000, 10_000)),
        pushes=_followers((1_000, 10_000), "BENCH_PUSHES"),
        wrk=_wrk((8, 32)),
        **common,
    )
