"""The disaster-recovery drill (`make drill`, or `python -m bench.drill`): RPO and RTO, measured.

Everything runs on PostgreSQL clusters of its own (initdb in a temporary folder, free ports),
never the stack's; Redis and Kafka are the stack's under fresh key prefixes and topics, removed
at the end. RPO (bench/drill_rpo.py): acknowledged work lost with a disk, for the WAL streamed
by `vq backup run` and, for comparison, for the server's archive_command. RTO
(bench/drill_rto.py): from the loss of a 1,000,000-event store to `GET /v1/queues/{id}` answering
right, then `vq projections check`. Prints both against their targets and writes
bench/results/drill-<time>.json. 20 to 40 minutes on this project's 2-core machine (the rebuild
and the check of 1,000,000 events take most of it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import drill_rpo, drill_rto
from bench.drill_cluster import drop_redis_keys
from bench.env import fresh_settings, machine
from core.settings import Settings

RPO_TARGET_S = 60.0
RTO_TARGET_S = 300.0
RESULTS = Path(__file__).resolve().parent / "results"


def say(line: str) -> None:
    print(line, flush=True)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.drill", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="RTO store size")
    parser.add_argument("--rpo-seconds", type=float, default=45.0, help="flow before the loss")
    parser.add_argument("--rate", type=float, default=200.0, help="commands/s during the RPO flow")
    parser.add_argument("--methods", default="stream,archive", help="RPO: stream, archive or both")
    parser.add_argument("--skip-rto", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def _delete_topics(settings: Settings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    async def work() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        await admin.start()
        try:
            mine = [
                t for t in await admin.list_topics() if t.startswith(settings.topic_prefix + ".")
            ]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()

    try:
        asyncio.run(work())
    except Exception as exc:  # Kafka down: the topics stay (fresh names, nothing reads them)
        say(f"could not delete the topics {settings.topic_prefix}.*: {exc!r}")


def _report(out: dict[str, Any]) -> list[str]:
    lines = ["", "disaster-recovery drill", f"{'what':<44} {'measured':>22}   target"]
    for rpo in out["rpo"]:
        verdict = "met" if rpo["lost_s"] <= RPO_TARGET_S else "MISSED"
        lines.append(
            f"{'RPO, ' + rpo['method'] + ' (' + str(rpo['acknowledged']) + ' acked)':<44} "
            f"{rpo['missing']:>6} lost, {rpo['lost_s']:>7.2f} s   <= {RPO_TARGET_S:.0f} s ({verdict})"
        )
        if rpo["method"] == "archive" and rpo.get("wal_mb_per_s"):
            rate, timeout = rpo["wal_mb_per_s"], drill_rpo.ARCHIVE_TIMEOUT_S
            worst = min(16 / rate, timeout)
            lines.append(
                f"  (WAL {rate:.2f} MB/s: a 16 MB file fills in {16 / rate:.0f} s, archive_timeout "
                f"switches at {timeout} s: up to {worst:.0f} s of work is lost)"
            )
        if rpo["missing_after_reclaim"] is not None:
            lines.append(
                f"{'  after vq backup reclaim (Kafka)':<44} {rpo['missing_after_reclaim']:>6} lost, "
                f"{rpo['lost_after_reclaim_s']:>7.2f} s"
            )
    rto = out.get("rto")
    if rto:
        verdict = "met" if rto["rto_s"] <= RTO_TARGET_S else "MISSED"
        lines.append(
            f"{'RTO, ' + format(rto['events'], ',') + ' events':<44} {rto['rto_s']:>20.0f} s   "
            f"<= {RTO_TARGET_S:.0f} s ({verdict})"
        )
        for name, seconds in rto["steps"].items():
            lines.append(f"{'  ' + name:<44} {seconds:>20.1f} s")
        differences = rto["check_differences"]
        lines.append(
            f"{'vq projections check on the restored store':<44} {differences!s:>14} differences"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    # The pools' complaints when the disk goes are the point of the drill, not news.
    logging.getLogger("psycopg").setLevel(logging.CRITICAL)
    base = fresh_settings("drill")
    work = Path(tempfile.mkdtemp(prefix="vq-drill-"))
    out: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "rpo": [],
        "rto": None,
        "args": vars(args),
    }
    say(f"drill in {work} (private PostgreSQL clusters; Redis/Kafka prefix {base.redis_prefix})")
    try:
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            say(f"RPO with {method}")
            result = drill_rpo.measure(
                method, base, work / f"rpo-{method}", args.rpo_seconds, args.rate, say
            )
            out["rpo"].append(asdict(result))
            say(
                f"  {result.missing} of {result.acknowledged} acknowledged events lost ({result.lost_s:.2f}s)"
            )
            shutil.rmtree(work / f"rpo-{method}", ignore_errors=True)
        if not args.skip_rto:
            say(f"RTO of a {args.events:,}-event store")
            out["rto"] = asdict(drill_rto.measure(base, work / "rto", args.events, say))
    finally:
        drop_redis_keys(base)
        _delete_topics(base)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    lines = _report(out)
    for line in lines:
        say(line)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"drill-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    say(f"\nwritten to {path}")
    met = all(r["lost_s"] <= RPO_TARGET_S for r in out["rpo"] if r["method"] == "stream")
    rto = out["rto"]
    if rto is not None:
        met = met and rto["rto_s"] <= RTO_TARGET_S and rto["check_differences"] == 0
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
