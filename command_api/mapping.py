"""Explicit mapping from HTTP bodies to domain values, and from outcomes to HTTP answers."""

from __future__ import annotations

from typing import Any

from command_api.fields import ContactIn
from command_api.models import (
    CommandOut,
    QueueCreateIn,
    QueuePatchIn,
    QueueSettingsIn,
    StreamVersionOut,
    TicketOut,
)
from core.tokens import ticket_token
from domain.config import AppointmentSettings, OpeningHours, QueueConfig
from privacy.sealing import Details
from service_layer.outcome import Outcome, TicketSummary

_SETTING_FIELDS = tuple(QueueSettingsIn.model_fields)
# Settings a null clears (the others are left as they are by one).
_NULLABLE = ("capacity", "aging_after_seconds", "aging_max_priority", "site", "appointments")


def _settings_changes(body: QueueSettingsIn) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in _SETTING_FIELDS:
        if name not in body.model_fields_set:
            continue
        value = getattr(body, name)
        if value is None and name not in _NULLABLE:
            continue  # null means "unset" only where the setting itself is optional
        if name == "opening_hours":
            value = tuple(
                OpeningHours(weekday=h.weekday, opens=h.opens, closes=h.closes) for h in value
            )
        elif name == "appointments" and value is not None:
            value = AppointmentSettings(**value.model_dump())
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


def contact(body: ContactIn | None) -> Details | None:
    """The person's details as given (sealed before any command carries them); None if none."""
    if body is None:
        return None
    details = Details(name=body.name, phone=body.phone, email=body.email, note=body.note)
    return None if details.empty() else details


def ticket_out(ticket: TicketSummary, *, token_secret: str | None = None) -> TicketOut:
    return TicketOut(
        ticket_id=ticket.ticket_id,
        queue_id=ticket.queue_id,
        number=ticket.number,
        status=ticket.status,
        priority=ticket.priority,
        service_type=ticket.service_type,
        counter=ticket.counter,
        position=ticket.position,
        people_ahead=None if ticket.position is None else ticket.position - 1,
        cancelled_by=ticket.cancelled_by,
        token=ticket_token(token_secret, ticket.ticket_id) if token_secret else None,
    )


def command_out(outcome: Outcome, *, token_secret: str | None = None) -> dict[str, Any]:
    """The body every command answers: ids, the new stream version, the ticket it made or moved,
    and for a transfer the receiving queue's new version."""
    ticket = outcome.ticket
    others = [
        (queue_id, version)
        for queue_id, version in outcome.versions.items()
        if queue_id != outcome.queue_id
    ]
    body = CommandOut(
        queue_id=outcome.queue_id,
        stream_version=outcome.stream_version,
        event_ids=list(outcome.event_ids),
        event_types=list(outcome.event_types),
        ticket=None if ticket is None else ticket_out(ticket, token_secret=token_secret),
        target=StreamVersionOut(queue_id=others[0][0], stream_version=others[0][1])
        if others
        else None,
    )
    # `target` only where there is one, and the ticket's `cancelled_by` only once cancelled:
    # every other answer (and a retry's, stored before either existed) stays what it always was.
    exclude: dict[str, Any] = {} if others else {"target": True}
    if ticket is not None and ticket.cancelled_by is None:
        exclude["ticket"] = {"cancelled_by"}
    return body.model_dump(mode="json", exclude=exclude or None)
