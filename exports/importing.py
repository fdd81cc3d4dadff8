"""Import a JSON-lines export (exports/events.py) into an empty event store, exactly.

Every event keeps its id, stream version, time, command and correlation ids, actor, type, schema
version and payload (as stored: an old schema version stays old, and reads upcast it as they do
any stored event). The events go through the store's own append function (`vq_append`,
migration 0016) with the document it takes, built here from the stored values rather than by
`eventstore.append.append_document` (which writes each event at its current schema version):
so the streams' versions, the ticket index and the aging flags are written as an append writes
them, with the locks, the contiguity check and the relay's NOTIFY. Lines are appended in the
file's order (the source's global order), BATCH to a transaction: memory holds one batch and the
streams' versions (one number a queue). The relay then publishes the events like new ones.

Refused (nothing written) when a stream of the file exists already in the target: an import is
for an empty store (or one without these queues), never a merge. A file is read twice: once to
check it and list its streams, once to append.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from domain.recorded import RecordedEvent
from eventstore.append import APPEND_SQL
from eventstore.pool import pooled
from eventstore.serialization import from_json
from eventstore.values import StreamAppend
from exports.events import Pool
from exports.rows import parse_line
from service_layer.indexing import indexed

BATCH: Final = 2000
IMPORTED_TENANT_NAME: Final = "Imported"
Progress = Callable[[int], None]


class ImportRefused(Exception):
    """The file cannot be imported here; nothing was written."""


@dataclass(frozen=True, slots=True)
class Scanned:
    events: int
    streams: frozenset[str]
    tenants: frozenset[str]


@dataclass(frozen=True, slots=True)
class Imported:
    events: int
    streams: int
    seconds: float


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                yield number, parse_line(line)
            except ValueError as exc:
                raise ImportRefused(f"{path}:{number}: {exc}") from exc


def scan(path: Path) -> Scanned:
    """The file checked line by line (each a complete event, each stream's versions 1, 2, ...)."""
    versions: dict[str, int] = {}
    tenants: set[str] = set()
    events = 0
    for number, item in _lines(path):
        stream, version = str(item["queue_id"]), int(item["stream_version"])
        if version != versions.get(stream, 0) + 1:
            raise ImportRefused(
                f"{path}:{number}: queue {stream} has version {version} after "
                f"{versions.get(stream, 0)}: the file is not a whole export in order"
            )
        versions[stream] = version
        tenants.add(str(item["tenant_id"]))
        events += 1
    return Scanned(events, frozenset(versions), frozenset(tenants))


def _batches(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for _, item in _lines(path):
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def document(batch: list[dict[str, Any]], versions: dict[str, int]) -> str:
    """vq_append's document for a batch of event lines; `versions` (each stream's version before
    the batch) is moved past it."""
    streams: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    holders: dict[str, dict[str, str]] = {}  # ticket -> where it is now: the last line's
    for item in batch:
        stream, tenant = str(item["queue_id"]), str(item["tenant_id"])
        entry = streams.setdefault(
            stream,
            {"id": stream, "tenant": tenant, "expected": versions.get(stream, 0), "ages": None},
        )
        entry["new"] = versions[stream] = int(item["stream_version"])
        marks = indexed(
            StreamAppend(
                stream_id=stream,
                tenant_id=tenant,
                expected_version=entry["new"] - 1,
                records=[_recorded(item)],
            )
        )
        for ticket_id in marks.tickets:
            holders.pop(ticket_id, None)
            holders[ticket_id] = {"id": ticket_id, "t": tenant, "q": stream}
        if marks.ages is not None:
            entry["ages"] = marks.ages
        events.append(
            {
                "s": stream,
                "v": entry["new"],
                "id": item["event_id"],
                "t": tenant,
                "ty": item["event_type"],
                "sc": item["schema_version"],
                "o": item["occurred_at"],
                "c": item["command_id"],
                "co": item["correlation_id"],
                "a": item["actor"],
                "p": json.dumps(item["payload"], ensure_ascii=False, separators=(",", ":")),
            }
        )
    body = {
        "streams": list(streams.values()),
        "events": events,
        "tickets": list(holders.values()),
        "idempotency": None,
        "trace": None,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _recorded(item: dict[str, Any]) -> RecordedEvent:
    """The line as the envelope the side tables' indexing reads (the event decoded, upcast)."""
    return RecordedEvent(
        event_id=str(item["event_id"]),
        tenant_id=str(item["tenant_id"]),
        queue_id=str(item["queue_id"]),
        stream_version=int(item["stream_version"]),
        event=from_json(str(item["event_type"]), int(item["schema_version"]), item["payload"]),
        occurred_at=datetime.fromisoformat(str(item["occurred_at"])),
        command_id=str(item["command_id"]),
        correlation_id=str(item["correlation_id"]),
        actor=str(item["actor"]),
    )


async def _prepare(pool: Pool, scanned: Scanned) -> None:
    """Refuse a target that has any of the file's streams; make the tenants it lacks."""
    async with pooled(pool) as conn, conn.transaction():
        cur = await conn.execute(
            "SELECT stream_id::text FROM streams WHERE stream_id = ANY(%s::uuid[]) LIMIT 5",
            (sorted(scanned.streams),),
        )
        taken = [row[0] for row in await cur.fetchall()]
        if taken:
            raise ImportRefused(
                f"the target store has queues of this file already ({', '.join(taken)}): "
                "import into an empty store"
            )
        await conn.execute(
            "INSERT INTO tenants (tenant_id, name) SELECT t, %s FROM unnest(%s::uuid[]) AS t "
            "ON CONFLICT (tenant_id) DO NOTHING",
            (IMPORTED_TENANT_NAME, sorted(scanned.tenants)),
        )


async def import_file(
    pool: Pool, path: Path, progress: Progress | None = None, batch: int = BATCH
) -> Imported:
    """Append every event of the export at `path` into the (empty) store of `pool`."""
    started = time.monotonic()
    scanned = scan(path)
    await _prepare(pool, scanned)
    versions: dict[str, int] = {}
    done = 0
    for items in _batches(path, batch):
        text = document(items, versions)
        async with pooled(pool) as conn:
            await conn.execute(APPEND_SQL, (text,), prepare=False)
        done += len(items)
        if progress is not None:
            progress(done)
    return Imported(done, len(scanned.streams), time.monotonic() - started)
