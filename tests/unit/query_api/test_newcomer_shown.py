"""A queue's "wait if you join now" as the API shows it, read a while after the last event: the
newcomer joins when it is read, behind the same people, so the range keeps its length; a
ticket's range is moments, and runs down as the ticket waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.commands import CallNext, CreateQueue, EnqueueTicket, QueueCommand, StartService
from domain.config import QueueConfig
from domain.decide import decide
from projections.estimates import shown
from projections.model import QueueModel
from projections.queries import QueueRead
from projections.views import queue_view
from query_api.views import queue_out

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _a_line_of_five() -> tuple[QueueModel, datetime]:
    model, now = QueueModel.new("q"), START
    config = QueueConfig(name="Desk", prefix="D", counters=("1",), mean_service_seconds=240)

    def run(command: QueueCommand) -> None:
        nonlocal now
        now += timedelta(seconds=1)
        for event in decide(model.state, command, now):
            model.apply(event)

    run(CreateQueue(queue_id="q", tenant_id="t", config=config, status="open"))
    for i in range(6):
        run(EnqueueTicket(ticket_id=f"t{i}"))
    run(CallNext(counter="1"))
    run(StartService(ticket_id="t0"))
    return model, now


def test_the_wait_if_you_join_now_keeps_its_length_on_a_quiet_line() -> None:
    model, last = _a_line_of_five()
    newcomer = model.estimates.newcomer(model.state)
    assert newcomer is not None and newcomer["ahead"] == 5
    read = QueueRead("q", model.state.version, queue_view(model.state), newcomer)
    at_once = queue_out(read, last)["estimate"]
    assert at_once["p50_seconds"] > 60 and at_once["ahead"] == 5
    # An hour later, nothing happened: one who joins now still finds five ahead.
    later = last + timedelta(hours=1)
    assert at_once["p90_seconds"] < 3600
    quiet = queue_out(read, later)["estimate"]
    for level in ("p10", "p50", "p90"):
        assert quiet[f"{level}_seconds"] == at_once[f"{level}_seconds"]
        moment = datetime.fromisoformat(quiet[f"{level}_at"])
        assert abs((moment - later).total_seconds() - quiet[f"{level}_seconds"]) < 1
    assert (quiet["ahead"], quiet["basis"], quiet["estimated_at"]) == (
        5,
        at_once["basis"],
        newcomer["estimated_at"],
    )
    # A ticket's range is moments: the last in line, an hour on, is "any moment now".
    etas, _ = model.estimates.refresh(model.state)
    ticket = shown(etas["t5"], later)
    assert ticket is not None and ticket["p90_seconds"] == 0


def test_a_range_read_before_it_was_estimated_is_not_stretched() -> None:
    model, last = _a_line_of_five()
    newcomer = model.estimates.newcomer(model.state)
    read = QueueRead("q", model.state.version, queue_view(model.state), newcomer)
    # The API's clock a second behind the worker's: the stored range, as it is.
    early = queue_out(read, last - timedelta(seconds=1))["estimate"]
    assert early["p50_at"] == newcomer["p50_at"]
