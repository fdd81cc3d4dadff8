"""Small checks and derivations shared by the command rules (`decide`, `transfer`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from domain.config import QueueConfig
from domain.errors import Rejected
from domain.hours import local_day
from domain.policy import resolve_priority
from domain.state import QueueState, TicketState


def check_clock(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")


def invalid(detail: str) -> Rejected:
    return Rejected("validation", detail)


def check_counter(state: QueueState, counter: str) -> None:
    if counter not in state.config.counters:
        raise invalid(f"unknown counter {counter!r}; counters are {list(state.config.counters)}")


def joining_class(config: QueueConfig, priority: str | None, service_type: str | None) -> str:
    """The class somebody joining (or booking) gets: the one asked for, else the queue's default;
    refused when the queue has no such class or offers no such service."""
    resolved = resolve_priority(config, priority)
    if resolved not in config.priority_classes:
        raise invalid(f"unknown priority {resolved!r}; classes are {list(config.priority_classes)}")
    if service_type is not None and service_type not in config.service_types:
        raise invalid(
            f"unknown service type {service_type!r}; types are {list(config.service_types)}"
        )
    return resolved


def get_ticket(state: QueueState, ticket_id: str) -> TicketState:
    ticket = state.tickets.get(ticket_id)
    if ticket is None:
        raise Rejected("not-found", f"no ticket {ticket_id!r} in queue {state.queue_id!r}")
    return ticket


def require_status(ticket: TicketState, allowed: Collection[str], action: str) -> None:
    if ticket.status not in allowed:
        raise Rejected(
            "invalid-transition",
            f"ticket {ticket.ticket_id!r} is {ticket.status}; {action} needs a ticket that is "
            + " or ".join(sorted(allowed)),
        )


def require_queue_status(state: QueueState, allowed: Collection[str], action: str) -> None:
    if state.status not in allowed:
        raise Rejected(
            "invalid-transition",
            f"queue is {state.status}; {action} needs a queue that is "
            + " or ".join(sorted(allowed)),
        )


def is_full(state: QueueState) -> bool:
    capacity = state.config.capacity
    return capacity is not None and len(state.waiting) >= capacity


def next_number(state: QueueState, now: datetime) -> tuple[str, int]:
    """The next human number ("A-042") and daily number; 1 again on a new local day."""
    day = local_day(state.config, now)
    same_day = state.daily_day is not None and day <= state.daily_day
    daily = state.daily_number + 1 if same_day else 1
    return human_number(state, daily), daily


def human_number(state: QueueState, daily: int) -> str:
    return f"{state.config.prefix}-{daily:03d}"
