"""A cancel's words depend on who cancelled (`cancelled_by`): the notifier reads it off the
`TicketCancelled` event, also for the positions topic's moment of the same change when both came
in one batch (the moments are folded first); the message's data carries it to the template."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.events import LeftBy, TicketCancelled
from domain.recorded import RecordedEvent
from notifications.notifier import CANCELLED, _who_cancelled
from notifications.rules import Moment

AT = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


def _moment(ticket_id: str, version: int, cause: str = CANCELLED) -> Moment:
    return Moment(
        ticket_id=ticket_id,
        queue_id="q",
        version=version,
        at=AT,
        cause=cause,
        status="cancelled" if cause == CANCELLED else "waiting",
        position=None if cause == CANCELLED else 2,
    )


def _cancelled(ticket_id: str, version: int, by: LeftBy) -> RecordedEvent:
    return RecordedEvent(
        event_id=f"e{version}",
        tenant_id="t",
        queue_id="q",
        stream_version=version,
        event=TicketCancelled(ticket_id=ticket_id, by=by, reason=None, at=AT),
        occurred_at=AT,
        command_id="c",
        correlation_id="c",
        actor="key",
    )


def test_the_moment_of_a_cancel_takes_its_events_who() -> None:
    moments = [
        (_moment("a", 7), "t", 1),
        (_moment("b", 8), "t", 1),
        (_moment("c", 9, cause="TicketEnqueued"), "t", 1),
        (_moment("d", 10), "t", 1),  # its event is not in this batch: not known
    ]
    events = [(_cancelled("a", 7, "closing"), 1), (_cancelled("b", 8, "customer"), 1)]
    found = [m.cancelled_by for m, _, _ in _who_cancelled(moments, events)]
    assert found == ["closing", "customer", None, None]


def test_another_change_of_the_same_ticket_is_not_named_by_it() -> None:
    """The version must match: the same ticket's earlier moment is not the cancel's."""
    moments = [(_moment("a", 6), "t", 1)]
    [(moment, _, _)] = _who_cancelled(moments, [(_cancelled("a", 7, "staff"), 1)])
    assert moment.cancelled_by is None


def test_no_cancel_in_the_batch_leaves_the_moments_as_they_were() -> None:
    moments = [(_moment("a", 7), "t", 1)]
    assert _who_cancelled(moments, []) is moments
