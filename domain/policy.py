"""The ordering policy: priority class first, then arrival within the class, and aging."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.config import QueueConfig

if TYPE_CHECKING:
    from domain.state import TicketState

OrderKey = tuple[int, datetime, int]


def rank(config: QueueConfig, priority: str) -> int:
    """0 for the highest class; a class the queue does not know sorts after all known ones."""
    try:
        return config.priority_classes.index(priority)
    except ValueError:
        return len(config.priority_classes)


def order_key(config: QueueConfig, ticket: TicketState) -> OrderKey:
    """Where a waiting ticket stands: its class, then when it joined that order, then `seq`.

    `seq` is unique within a queue, so two tickets never share a key: the line is a total order
    and positions are 1..n without ties.
    """
    return (rank(config, ticket.priority), ticket.order_at, ticket.seq)


def resolve_priority(config: QueueConfig, priority: str | None) -> str:
    """The class a ticket joins: the one asked for, or the queue's default."""
    return config.default_priority if priority is None else priority


def carried_priority(config: QueueConfig, priority: str) -> str:
    """The class a ticket or booking moved into this queue keeps: its own where this queue has
    that class, else this queue's default."""
    return priority if priority in config.priority_classes else config.default_priority


def aging_ceiling(config: QueueConfig) -> str:
    """The highest class aging can reach: the configured one, else the second-highest class."""
    if config.aging_max_priority is not None:
        return config.aging_max_priority
    classes = config.priority_classes
    return classes[1] if len(classes) > 1 else classes[0]


def aging_target(config: QueueConfig, current_priority: str) -> str | None:
    """One class up from `current_priority`, or None when the ceiling is already reached."""
    classes = config.priority_classes
    if not classes or current_priority not in classes:
        return None
    current = classes.index(current_priority)
    ceiling = rank(config, aging_ceiling(config))
    if current <= ceiling:
        return None
    return classes[current - 1]
