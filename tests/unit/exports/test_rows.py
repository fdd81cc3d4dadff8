"""The pure parts of the exports: event lines, CSV cells, ticket rows, the import's document."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

from domain.commands import (
    CallNext,
    CancelTicket,
    CompleteService,
    CreateQueue,
    EnqueueTicket,
    QueueCommand,
    StartService,
)
from domain.config import QueueConfig
from domain.decide import decide
from domain.events import QueueEvent, TicketEnqueued
from domain.evolve import evolve
from domain.state import FINISHED_RETENTION, QueueState, initial_state
from eventstore.serialization import to_json
from exports.importing import document
from exports.rows import (
    EVENT_FIELDS,
    TICKET_FIELDS,
    csv_text,
    event_cells,
    event_line,
    parse_line,
)
from exports.tickets import TicketRows
from privacy.sealing import Details, new_key, seal

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
AWKWARD = {"note": 'a, "quoted"\nline, é ü 漢字 🎫', "n": 1}


def _row(version: int = 1, payload: str = json.dumps(AWKWARD)) -> tuple[object, ...]:
    return (
        str(uuid.uuid4()),
        TENANT,
        str(uuid.uuid4()),
        version,
        "TicketEnqueued",
        1,
        T0,
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        "key:abc",
        payload,
    )


def test_an_event_line_holds_every_field_and_the_payload_as_stored() -> None:
    row = _row()
    line = event_line(row)
    assert line.endswith("\n") and line.count("\n") == 1
    found = parse_line(line)
    assert list(found) == list(EVENT_FIELDS)
    assert found["payload"] == AWKWARD
    assert found["occurred_at"] == "2026-03-02T09:00:00+00:00"
    assert [found[name] for name in EVENT_FIELDS[:6]] == list(row[:6])


def test_a_bad_line_is_named() -> None:
    for text, why in (
        ("{", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"event_id": 1}', "missing"),
    ):
        try:
            parse_line(text)
        except ValueError as exc:
            assert why in str(exc)
        else:
            raise AssertionError(f"{text!r} was accepted")


def test_csv_keeps_commas_quotes_newlines_and_unicode_in_a_payload() -> None:
    rows = [event_cells(_row(1)), event_cells(_row(2))]
    text = csv_text([EVENT_FIELDS, *rows])
    read = list(csv.reader(io.StringIO(text)))
    assert read[0] == list(EVENT_FIELDS)
    assert read[1:] == rows
    assert json.loads(read[1][-1]) == AWKWARD


def test_a_cell_that_would_start_a_formula_is_defused() -> None:
    [cells] = list(csv.reader(io.StringIO(csv_text([["=1+1", "-2", "@x", "plain"]]))))
    assert cells == ["'=1+1", "'-2", "'@x", "plain"]


class Queue:
    """A queue driven by the domain's own decide/evolve, its events kept."""

    def __init__(self) -> None:
        self.state: QueueState = initial_state(str(uuid.uuid4()))
        self.now = T0
        self.events: list[QueueEvent] = []
        config = QueueConfig(name="Desk", counters=("1",), service_types=("pay, cash",))
        self.do(CreateQueue(queue_id=self.state.queue_id, tenant_id=TENANT, config=config))

    def do(self, command: QueueCommand) -> list[QueueEvent]:
        self.now += timedelta(seconds=30)
        made = decide(self.state, command, self.now)
        for event in made:
            evolve(self.state, event)
        self.events.extend(made)
        return made


def test_ticket_rows_have_the_final_status_and_times_and_no_contact() -> None:
    queue = Queue()
    details = Details(name="Ada Lovelace", phone="+441234567890", email="ada@example.org")
    personal = seal(new_key(), "tenant", "k1", details)
    queue.do(EnqueueTicket(ticket_id="t-served", personal=personal, service_type="pay, cash"))
    queue.do(EnqueueTicket(ticket_id="t-cancelled"))
    queue.do(EnqueueTicket(ticket_id="t-waiting"))
    queue.do(CallNext(counter="1"))
    queue.do(StartService(ticket_id="t-served"))
    queue.do(CompleteService(ticket_id="t-served"))
    queue.do(CancelTicket(ticket_id="t-cancelled"))
    fold = TicketRows(queue.state.queue_id)
    assert [row for event in queue.events for row in fold.apply(event)] == []
    rows = {row[1]: dict(zip(TICKET_FIELDS, row, strict=True)) for row in fold.remaining()}
    assert rows["t-served"]["status"] == "served"
    assert rows["t-served"]["wait_s"] == "90"  # enqueued at +60 s, called at +150 s
    assert rows["t-served"]["served_at"] and not rows["t-served"]["cancelled_at"]
    assert rows["t-cancelled"]["status"] == "cancelled" and rows["t-cancelled"]["cancelled_at"]
    assert rows["t-waiting"]["status"] == "waiting" and rows["t-waiting"]["wait_s"] == ""
    text = csv_text(fold.remaining())
    assert "Ada" not in text and "ada@example.org" not in text and "+4412" not in text
    assert personal.sealed not in text and personal.key_id not in text


def test_tickets_the_fold_forgets_are_written_once_as_it_forgets_them() -> None:
    queue = Queue()
    total = FINISHED_RETENTION + 50
    for n in range(total):
        queue.do(EnqueueTicket(ticket_id=f"t-{n}"))
        queue.do(CancelTicket(ticket_id=f"t-{n}"))
    fold = TicketRows(queue.state.queue_id)
    early = [row for event in queue.events for row in fold.apply(event)]
    assert len(early) == 50  # the oldest, as the fold forgot them
    every = [row[1] for row in [*early, *fold.remaining()]]
    assert sorted(every) == sorted(f"t-{n}" for n in range(total))
    assert {row[6] for row in early} == {"cancelled"}


def _line(
    queue: Queue, event: QueueEvent, version: int, schema: int, payload: object
) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "tenant_id": TENANT,
        "queue_id": queue.state.queue_id,
        "stream_version": version,
        "event_type": event.TYPE,
        "schema_version": schema,
        "occurred_at": T0.isoformat(),
        "command_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "actor": "key:abc",
        "payload": payload,
    }


def test_the_import_document_keeps_what_is_stored_and_indexes_tickets() -> None:
    queue = Queue()
    queue.do(EnqueueTicket(ticket_id=str(uuid.uuid4())))
    created, enqueued = queue.events
    assert isinstance(enqueued, TicketEnqueued)
    old = json.loads(to_json(created))
    del old["config"]["busy_counter_policy"]  # as a version-1 QueueCreated was stored
    lines = [
        _line(queue, created, 1, 1, old),
        _line(queue, enqueued, 2, enqueued.VERSION, json.loads(to_json(enqueued))),
    ]
    versions: dict[str, int] = {}
    first = json.loads(document(lines[:1], versions))
    assert versions == {queue.state.queue_id: 1}
    [stream] = first["streams"]
    assert (stream["expected"], stream["new"], stream["ages"]) == (0, 1, False)
    [event] = first["events"]
    assert event["sc"] == 1 and json.loads(event["p"]) == old  # not upcast
    assert event["id"] == lines[0]["event_id"] and event["o"] == lines[0]["occurred_at"]
    second = json.loads(document(lines[1:], versions))
    assert (second["streams"][0]["expected"], second["streams"][0]["new"]) == (1, 2)
    assert second["tickets"] == [{"id": enqueued.ticket_id, "t": TENANT, "q": queue.state.queue_id}]
    assert second["idempotency"] is None
