"""One person at a counter at a time: what a call at a counter that is still busy does.

A counter is busy while a ticket called there has not finished (it is "called" or "serving").
The queue's `busy_counter_policy` decides: "refuse" the call (the counter closes that visit
first), or "close_previous": close it (a called person who never came is a no-show, one being
served is served) in the same append as the new call.
"""

from __future__ import annotations

from datetime import datetime

from domain.errors import Rejected
from domain.events import QueueEvent, TicketNoShow, TicketServed
from domain.state import QueueState, TicketState

_STATUS_WORDS = {"called": "called (not started yet)", "serving": "being served"}


def at_counter(state: QueueState, counter: str) -> list[TicketState]:
    """The tickets called or being served at `counter`, oldest call first."""
    return [state.tickets[ticket_id] for ticket_id in state.at_counters.get(counter, ())]


def free_counter(state: QueueState, counter: str, now: datetime) -> list[QueueEvent]:
    """The events that free `counter` for a new call: [] when it is free, else by the policy
    (Rejected "counter-busy" under "refuse")."""
    busy = at_counter(state, counter)
    if not busy:
        return []
    if state.config.busy_counter_policy == "close_previous":
        return [_closed(ticket, counter, now) for ticket in busy]
    raise _busy(counter, busy)


def _closed(ticket: TicketState, counter: str, now: datetime) -> QueueEvent:
    if ticket.status == "serving":
        return TicketServed(ticket_id=ticket.ticket_id, counter=counter, at=now)
    return TicketNoShow(ticket_id=ticket.ticket_id, counter=counter, at=now)


def _busy(counter: str, busy: list[TicketState]) -> Rejected:
    named = ", ".join(f"{t.number} is {_STATUS_WORDS.get(t.status, t.status)}" for t in busy)
    if len(busy) > 1:  # only in queues that called twice before there was a policy
        what = "complete each of them (or mark a called one a no-show)"
    elif busy[0].status == "serving":
        what = f"complete {busy[0].number}"
    else:
        what = (
            f"complete {busy[0].number} or mark it a no-show (a recall calls the same person again)"
        )
    return Rejected(
        "counter-busy",
        f"counter {counter!r} is busy: {named} there. Before calling someone else, {what}.",
        facts={
            "counter": counter,
            "tickets": [
                {"ticket_id": t.ticket_id, "number": t.number, "status": t.status} for t in busy
            ],
        },
    )
