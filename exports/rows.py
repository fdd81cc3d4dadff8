"""Rows of an export, shaped from the store's rows and the domain's ticket state (pure).

An event line carries every column of the events table a re-import needs (everything but the
store's own global position, transaction id and recording time) with the payload exactly as the
store keeps it: the schema version it was written with, not upcast (an import writes it back as
it was, and reading upcasts it then, as for any stored event).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from domain.state import TicketState

# The events table's columns an export holds, the payload as its JSON text (jsonb's own).
EXPORT_COLUMNS: Final = (
    "events.event_id::text, events.tenant_id::text, events.stream_id::text, "
    "events.stream_version, events.event_type, events.schema_version, events.occurred_at, "
    "events.command_id::text, events.correlation_id::text, events.actor, events.payload::text"
)
# The names an event line (and the events CSV's header) gives them, in that order.
EVENT_FIELDS: Final = (
    "event_id",
    "tenant_id",
    "queue_id",
    "stream_version",
    "event_type",
    "schema_version",
    "occurred_at",
    "command_id",
    "correlation_id",
    "actor",
    "payload",
)
# Contact details (name, phone, email), metadata and language are left out: personal data.
TICKET_FIELDS: Final = (
    "queue_id",
    "ticket_id",
    "number",
    "priority",
    "service_type",
    "channel",
    "status",
    "enqueued_at",
    "called_at",
    "served_at",
    "cancelled_at",
    "wait_s",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def moment(value: datetime | None) -> str:
    """A time as RFC 3339 in UTC ("" for none)."""
    return "" if value is None else value.astimezone(UTC).isoformat()


def event_line(row: Sequence[Any]) -> str:
    """One JSON line for a row of EXPORT_COLUMNS; the payload's text goes in as it is."""
    envelope = dict(zip(EVENT_FIELDS[:-1], row[:-1], strict=True))
    envelope["occurred_at"] = moment(row[6])
    head = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    return f'{head[:-1]},"payload":{row[-1]}}}\n'


def event_cells(row: Sequence[Any]) -> list[str]:
    """The events CSV's cells for a row of EXPORT_COLUMNS (the payload as its JSON text)."""
    cells = [str(value) for value in row]
    cells[6] = moment(row[6])
    return cells


def ticket_cells(queue_id: str, ticket: TicketState) -> list[str]:
    """The tickets CSV's cells for a ticket as the queue's fold left it."""
    wait = ""
    if ticket.called_at is not None:
        wait = f"{(ticket.called_at - ticket.enqueued_at).total_seconds():g}"
    return [
        queue_id,
        ticket.ticket_id,
        ticket.number,
        ticket.priority,
        ticket.service_type or "",
        ticket.channel,
        ticket.status,
        moment(ticket.enqueued_at),
        moment(ticket.called_at),
        moment(ticket.finished_at if ticket.status == "served" else None),
        moment(ticket.finished_at if ticket.status == "cancelled" else None),
        wait,
    ]


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    """CSV lines (RFC 4180 quoting: commas, quotes and newlines inside a cell are kept), every
    cell made inert for spreadsheets: one starting a formula gets a quote in front (as the audit
    trail's CSV does; no export column but a free-text one ever starts so)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for cells in rows:
        writer.writerow([defused(cell) for cell in cells])
    return out.getvalue()


def defused(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def parse_line(line: str) -> dict[str, Any]:
    """An event line read back, checked to hold every field (ValueError names what is wrong)."""
    try:
        found = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in EVENT_FIELDS if name not in found]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    return found
