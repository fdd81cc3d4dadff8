"""The export/import benchmark (`VQ_ENV=dev python -m bench.export [--events N]`): issue 16's
acceptance 4, measured.

Fills a fresh schema with N events (default 1,000,000) of one tenant, through the event store
(bench/fill.py: the realistic mix, long lines of 1 % and 10 % of N); exports them with
`vq data export` (JSON lines, then CSV and the tickets CSV) in a process of its own whose peak
resident memory (VmHWM, sampled from /proc/<pid>/status until it ends; not ru_maxrss, which
counts the image of this process forked before the exec) is the figure, next to the same
command's on an empty tenant (what the process costs with no data); imports the JSON lines into a second fresh schema with `vq data import`; rebuilds that
schema's read models (`vq projections rebuild`) and checks them (`vq projections check`); and
compares both schemas' events column by column (a digest of each). Prints the rates, the peaks
and the check's differences; drops both schemas and their Redis keys at the end (`--keep`
keeps them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import env, fill
from core.settings import Settings

SAMPLE_EVERY_S = 0.2
# Every stored column but the store's own positions and recording time, in a fixed order.
DIGEST_SQL = (
    "SELECT count(*), md5(string_agg(concat_ws('|', event_id, tenant_id, stream_id, "
    "stream_version, event_type, schema_version, occurred_at, command_id, correlation_id, "
    "actor, payload::text), ',' ORDER BY stream_id, stream_version)) FROM {}.events"
)


@dataclass
class Run:
    """One `vq` process: its exit status, wall time, peak memory (MB), the largest resident
    size sampled in the first and in the second half of its run (flat: memory is bounded, it
    does not grow with what was exported so far) and its output."""

    status: int
    seconds: float
    peak_mb: float
    halves_mb: tuple[float, float]
    stdout: str


def say(line: str) -> None:
    print(line, flush=True)


def vq(settings: Settings, *args: str, stdout: Path | None = None, quiet: bool = False) -> Run:
    """Run `vq ARGS` on `settings`, sampling its VmHWM until it ends (`quiet`: no stderr)."""
    out = stdout.open("w") if stdout is not None else subprocess.PIPE
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vq.cli", *args],
        env=env.subprocess_env(settings),
        stdout=out,
        stderr=subprocess.DEVNULL if quiet else None,
        text=True,
    )
    peak_kb, samples = 0, []
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            break
        peak_kb = max(peak_kb, _status_kb(proc.pid, "VmHWM:"))
        samples.append(_status_kb(proc.pid, "VmRSS:"))
        time.sleep(SAMPLE_EVERY_S)
    seconds = time.monotonic() - started
    half = len(samples) // 2
    halves = (max(samples[:half], default=0) / 1024, max(samples[half:], default=0) / 1024)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = ""
    if stdout is None and proc.stdout is not None:
        text = proc.stdout.read()
    else:
        assert not isinstance(out, int)
        out.close()
    return Run(proc.returncode, seconds, peak_kb / 1024, halves, text)


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _add_tenant(settings: Settings) -> str:
    tenant_id = str(uuid.uuid4())
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.tenants (tenant_id, name) VALUES (%s, %s)").format(
                sql.Identifier(settings.db_schema)
            ),
            (tenant_id, "Export bench"),
        )
    return tenant_id


def digest(settings: Settings) -> tuple[int, str]:
    with psycopg.connect(settings.pg_url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(DIGEST_SQL).format(sql.Identifier(settings.db_schema))
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _checked(run: Run, what: str) -> Run:
    if run.status not in (0, 1) or (run.status == 1 and what != "check"):
        raise RuntimeError(f"`vq {what}` failed with status {run.status}: {run.stdout[-2000:]}")
    return run


def measure(source: Settings, target: Settings, events: int, work: Path) -> dict[str, Any]:
    """Every step once; the figures."""
    tenant = _add_tenant(source)
    say(f"filling {events:,} events (schema {source.db_schema})")
    lines = (100, events // 100, events // 10)
    filled = asyncio.run(
        fill.fill(source, tenant, events, lines, busy_queues=max(events // 5000, 4))
    )
    say(f"  {filled.events:,} events in {filled.seconds:.0f}s")
    out: dict[str, Any] = {"events": filled.events, "fill_s": round(filled.seconds, 1)}
    empty = _checked(vq(source, "data", "export", "--tenant", str(uuid.uuid4())), "export")
    out["empty_export_peak_mb"] = round(empty.peak_mb, 1)
    file = work / "export.jsonl"
    for form, path in (("jsonl", file), ("csv", work / "e.csv"), ("tickets-csv", work / "t.csv")):
        say(f"exporting ({form})")
        run = _checked(
            vq(
                source,
                "data",
                "export",
                "--tenant",
                tenant,
                "--format",
                form,
                "--output",
                str(path),
            ),
            "export",
        )
        out[f"export_{form}"] = {
            "seconds": round(run.seconds, 1),
            "events_per_s": round(filled.events / max(run.seconds, 1e-9)),
            "peak_mb": round(run.peak_mb, 1),
            "rss_halves_mb": [round(mb, 1) for mb in run.halves_mb],
            "file_mb": round(path.stat().st_size / 2**20, 1),
        }
        say(f"  {out[f'export_{form}']}")
    say(f"importing into schema {target.db_schema}")
    run = _checked(vq(target, "data", "import", str(file)), "import")
    out["import"] = {
        "seconds": round(run.seconds, 1),
        "events_per_s": round(filled.events / max(run.seconds, 1e-9)),
        "peak_mb": round(run.peak_mb, 1),
        "rss_halves_mb": [round(mb, 1) for mb in run.halves_mb],
    }
    say(f"  {out['import']}")
    again = vq(target, "data", "import", str(file))
    out["second_import_refused"] = again.status == 1
    out["identical_events"] = digest(source) == digest(target)
    say(
        f"  second import refused: {out['second_import_refused']}; events identical: {out['identical_events']}"
    )
    say("rebuilding the imported store's read models")
    run = _checked(vq(target, "projections", "rebuild", "--jobs", "2", quiet=True), "rebuild")
    out["rebuild_s"] = round(run.seconds, 1)
    say(f"  {run.seconds:.0f}s; checking")
    run = _checked(vq(target, "projections", "check"), "check")
    out["check_s"] = round(run.seconds, 1)
    out["check"] = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    say(f"  {out['check']} ({run.seconds:.0f}s)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the schemas and keys")
    args = parser.parse_args(argv)
    source, target = env.fresh_settings("export"), env.fresh_settings("import")
    env.prepare(source)
    env.prepare(target)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="vq-export-") as folder:
            out = measure(source, target, args.events, Path(folder))
    finally:
        if not args.keep:
            for settings in (source, target):
                asyncio.run(env.teardown(settings))
    out["wall_s"] = round(time.monotonic() - started, 1)
    out["machine"] = env.machine()
    print(json.dumps(out, indent=2))
    return 0 if out["identical_events"] and out["check"].endswith(": 0 differences") else 1


if __name__ == "__main__":
    sys.exit(main())
