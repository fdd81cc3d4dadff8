"""Explicit mapping from HTTP bodies to domain values, and from outcomes to HTTP answers."""

from __future__ import annotations

from typing import Any

from command_api.handlers import Outcome
from command_api.models import (
    CommandOut,
    ContactIn,
    QueueCreateIn,
    QueuePatchIn,
    QueueSettingsIn,
    TicketOut,
)
from domain.config import OpeningHours, QueueConfig
from domain.events import Contact
from domain.state import QueueState, position
from vq.tokens import ticket_token

_SETTING_FIELDS = tuple(QueueSettingsIn.model_fields)


def _settings_changes(body: QueueSettingsIn) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in _SETTING_FIELDS:
        if name not in body.model_fields_set:
            continue
        value = getattr(body, name)
        if value is None and name not in ("capacity", "aging_after_seconds", "aging_max_priority"):
            continue  # null means "unset" only where the setting itself is optional
        if name == "opening_hours":
            value = tuple(OpeningHours(weekday=h.weekday, opens=h.opens, closes=h.closes)
                          for h in value)
        elif isinstance(value, list):
            value = tuple(value)
        changes[name] = value
    return changes


def queue_config(body: QueueCreateIn) -> QueueConfig:
    return QueueConfig(name=body.name, **_settings_changes(body))


def settings_patch(body: QueuePatchIn) -> tuple[tuple[str, object], ...]:
    """The settings a PATCH names (the queue applies them to its configuration in its turn)."""
    changes = _settings_changes(body)
    if body.name is not None:
        changes["name"] = body.name
    return tuple(sorted(changes.items()))


def contact(body: ContactIn | None) -> Contact | None:
    if body is None or not (body.name or body.phone or body.email):
        return None
    return Contact(name=body.name, phone=body.phone, email=body.email)


def ticket_out(
    state: QueueState, ticket_id: str, *, token_secret: str | None = None
) -> TicketOut:
    ticket = state.tickets[ticket_id]
    pos = position(state, ticket_id)
    return TicketOut(
        ticket_id=ticket_id,
        queue_id=state.queue_id,
        number=ticket.number,
        status=ticket.status,
        priority=ticket.priority,
        service_type=ticket.service_type,
        counter=ticket.counter,
        position=pos,
        people_ahead=None if pos is None else pos - 1,
        token=ticket_token(token_secret, ticket_id) if token_secret else None,
    )


def command_out(
    outcome: Outcome, *, ticket_id: str | None = None, token_secret: str | None = None
) -> dict[str, Any]:
    """The body every command answers: ids, the new stream version, and the ticket if any."""
    own = [r for r in outcome.records if r.queue_id == outcome.queue_id]
    ticket = None
    if ticket_id is not None and ticket_id in outcome.state.tickets:
        ticket = ticket_out(outcome.state, ticket_id, token_secret=token_secret)
    return CommandOut(
        queue_id=outcome.queue_id,
        stream_version=outcome.stream_version,
        event_ids=[r.event_id for r in outcome.records],
        event_types=[r.event_type for r in own],
        ticket=ticket,
    ).model_dump(mode="json")
