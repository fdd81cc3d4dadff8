"""`vq restore`'s report: what the restored event store holds, what the relay will publish, and
what to do next (the README's runbook, in short).

Kafka after a restore. The relay's checkpoint is restored with the store, so it lags the store's
end a little: the relay publishes the events after it again. Kafka already has those that it had
published before the loss (same event id and stream version): the workers skip any event at or
below the version they hold, so nothing is applied twice, and the others are published for the
first time. `--republish all` clears the checkpoint: every event is published again, for a Kafka
whose topic is new or was lost too. Events the relay had published but the restore did not bring
back are in Kafka only: `vq backup reclaim` appends them to the store again (until then, a new
command would reuse their stream versions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from core.settings import Settings
from deploy import procs
from deploy.backup.folder import BackupFolder
from deploy.backup.restore import Restored, restore

Say = Callable[[str], None]
# The relay's checkpoint name (eventstore/relay.py, Relay's `name`; tests/unit checks they agree).
RELAY_CHECKPOINT = "kafka-relay"


@dataclass
class StoreSummary:
    events: int = 0
    newest: datetime | None = None
    unpublished: int | None = None  # events after the relay's checkpoint (None: no checkpoint)
    found: bool = False


def inspect_store(conninfo: str, database: str, schema: str, republish_all: bool) -> StoreSummary:
    summary = StoreSummary()
    with psycopg.connect(conninfo, dbname=database, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.events"]).fetchone()
        if not exists or not exists[0]:
            return summary
        summary.found = True
        events = sql.Identifier(schema, "events")
        checkpoints = sql.Identifier(schema, "checkpoints")
        row = conn.execute(
            sql.SQL("SELECT count(*), max(recorded_at) FROM {}").format(events)
        ).fetchone()
        assert row is not None
        summary.events, summary.newest = int(row[0]), row[1]
        if republish_all:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE name = %s").format(checkpoints), [RELAY_CHECKPOINT]
            )
        behind = conn.execute(
            sql.SQL(
                "SELECT (SELECT count(*) FROM {e} e WHERE (e.transaction_id, e.global_position) > "
                "(c.transaction_id, c.global_position)) FROM {c} c WHERE c.name = %s"
            ).format(e=events, c=checkpoints),
            [RELAY_CHECKPOINT],
        ).fetchone()
        summary.unpublished = None if behind is None else int(behind[0])
    return summary


def restore_and_report(
    settings: Settings,
    folder: Path,
    data: Path,
    target: datetime | None,
    republish: str,
    say: Say,
) -> int:
    database = str(conninfo_to_dict(settings.pg_url).get("dbname", settings.pg_database))
    summary = StoreSummary()

    def inspect(conninfo: str) -> None:
        nonlocal summary
        summary = inspect_store(conninfo, database, settings.db_schema, republish == "all")

    result = restore(BackupFolder(folder), data, target, say, inspect)
    _report(result, summary, settings, republish, say)
    _next_steps(data, settings, say)
    return 0


def _report(
    result: Restored, summary: StoreSummary, settings: Settings, republish: str, say: Say
) -> None:
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result.steps.items())
    recovered = result.recovered
    assert recovered is not None
    last = recovered.last_transaction
    say(
        f"recovered to the last transaction at {last.isoformat() if last else 'the base backup'} "
        f"on timeline {recovered.timeline} ({steps})"
    )
    if not summary.found:
        say(f"  no event store in schema {settings.db_schema!r} of that database")
        return
    newest = summary.newest.isoformat() if summary.newest else "-"
    say(
        f"  event store {settings.db_schema}: {summary.events:,} events, the newest recorded {newest}"
    )
    if republish == "all":
        say("  relay checkpoint cleared: the relay publishes every event again")
    elif summary.unpublished is None:
        say("  the relay has no checkpoint: it publishes every event")
    else:
        say(
            f"  the relay publishes the {summary.unpublished:,} events after its restored "
            "checkpoint (those Kafka has already are skipped by version)"
        )


def _next_steps(data: Path, settings: Settings, say: Say) -> None:
    stack_data = settings.data_dir.resolve() / "postgres" / "data"
    say("next (README: Backups and disaster recovery):")
    if data.resolve() != stack_data:
        say(
            f"  1. put it in service: `vq stack down postgresql`, move "
            f"{procs.shown(stack_data)} away, move {procs.shown(data)} there, `vq stack up`"
        )
    else:
        say("  1. `vq stack up`")
    say(
        "  2. after a lost disk, Kafka intact: `vq backup reclaim` (the events Kafka has beyond "
        "this point; not when you went back to undo something)"
    )
    say("  3. `vq projections rebuild`, then `vq projections check` (0 differences)")
    say("  4. start the app (`vq run` or the systemd units)")
    say("  5. back up into a new folder: `vq backup run --to NEWFOLDER` (a new timeline began)")
