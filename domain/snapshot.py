"""Snapshots: a queue's folded state as plain JSON values, and back.

`from_snapshot(to_snapshot(s))` behaves exactly like `s`: same tickets, same waiting order, same
daily counter, same retention order. The line itself is not stored; it is rebuilt from the
waiting tickets, so a snapshot can never hold a line that disagrees with its tickets.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from sortedcontainers import SortedList

from domain.config import AppointmentSettings, OpeningHours, QueueConfig
from domain.events import PersonalData
from domain.evolve import set_config
from domain.state import Appointment, QueueState, TicketState, line_key

# 4: the configuration's busy_counter_policy; 5: a ticket's sealed `personal` data instead of its
# contact in the clear; 6: appointments (the settings and the bookings); 7: the counters' breaks
# (older snapshots are not read: the queue is folded from its events instead, so no snapshot
# written from now on holds a contact in the clear); 8: who cancelled a ticket (`cancelled_by`).
SNAPSHOT_SCHEMA = 8


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _required_time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def config_to_dict(config: QueueConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "prefix": config.prefix,
        "service_types": list(config.service_types),
        "counters": list(config.counters),
        "capacity": config.capacity,
        "priority_classes": list(config.priority_classes),
        "default_priority": config.default_priority,
        "timezone": config.timezone,
        "opening_hours": [
            {"weekday": oh.weekday, "opens": oh.opens, "closes": oh.closes}
            for oh in config.opening_hours
        ],
        "allow_outside_hours": config.allow_outside_hours,
        "aging_after_seconds": config.aging_after_seconds,
        "aging_max_priority": config.aging_max_priority,
        "no_show_grace_seconds": config.no_show_grace_seconds,
        "transfer_policy": config.transfer_policy,
        "busy_counter_policy": config.busy_counter_policy,
        "target_wait_seconds": config.target_wait_seconds,
        "mean_service_seconds": config.mean_service_seconds,
        "metadata": dict(config.metadata),
        "site": config.site,
        "appointments": (
            None if config.appointments is None else dataclasses.asdict(config.appointments)
        ),
    }


def config_from_dict(data: dict[str, Any]) -> QueueConfig:
    return QueueConfig(
        name=data["name"],
        prefix=data["prefix"],
        service_types=tuple(data["service_types"]),
        counters=tuple(data["counters"]),
        capacity=data["capacity"],
        priority_classes=tuple(data["priority_classes"]),
        default_priority=data["default_priority"],
        timezone=data["timezone"],
        opening_hours=tuple(
            OpeningHours(weekday=oh["weekday"], opens=oh["opens"], closes=oh["closes"])
            for oh in data["opening_hours"]
        ),
        allow_outside_hours=data["allow_outside_hours"],
        aging_after_seconds=data["aging_after_seconds"],
        aging_max_priority=data["aging_max_priority"],
        no_show_grace_seconds=data["no_show_grace_seconds"],
        transfer_policy=data["transfer_policy"],
        busy_counter_policy=data["busy_counter_policy"],
        target_wait_seconds=data["target_wait_seconds"],
        mean_service_seconds=data["mean_service_seconds"],
        metadata=dict(data["metadata"]),
        site=data.get("site"),  # snapshots from before sites have none
        appointments=(
            None
            if data.get("appointments") is None
            else AppointmentSettings(**data["appointments"])
        ),
    )


def _personal_to_dict(personal: PersonalData | None) -> dict[str, Any] | None:
    if personal is None:
        return None
    return {"key_id": personal.key_id, "sealed": personal.sealed}


def _personal_from_dict(data: dict[str, Any] | None) -> PersonalData | None:
    if data is None:
        return None
    return PersonalData(key_id=data["key_id"], sealed=data["sealed"])


def _ticket_to_dict(ticket: TicketState) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "number": ticket.number,
        "daily_number": ticket.daily_number,
        "seq": ticket.seq,
        "priority": ticket.priority,
        "service_type": ticket.service_type,
        "channel": ticket.channel,
        "personal": _personal_to_dict(ticket.personal),
        "metadata": dict(ticket.metadata),
        "language": ticket.language,
        "status": ticket.status,
        "enqueued_at": _time(ticket.enqueued_at),
        "order_at": _time(ticket.order_at),
        "class_since": _time(ticket.class_since),
        "counter": ticket.counter,
        "called_at": _time(ticket.called_at),
        "recall_count": ticket.recall_count,
        "started_at": _time(ticket.started_at),
        "finished_at": _time(ticket.finished_at),
        "transferred_to": ticket.transferred_to,
        "transferred_from": ticket.transferred_from,
        "enqueued_here": ticket.enqueued_here,
        "cancelled_by": ticket.cancelled_by,
    }


def _ticket_from_dict(data: dict[str, Any]) -> TicketState:
    return TicketState(
        ticket_id=data["ticket_id"],
        number=data["number"],
        daily_number=data["daily_number"],
        seq=data["seq"],
        priority=data["priority"],
        service_type=data["service_type"],
        channel=data["channel"],
        personal=_personal_from_dict(data["personal"]),
        metadata=dict(data["metadata"]),
        language=data["language"],
        status=data["status"],
        enqueued_at=_required_time(data["enqueued_at"]),
        order_at=_required_time(data["order_at"]),
        class_since=_required_time(data["class_since"]),
        counter=data["counter"],
        called_at=_parse_time(data["called_at"]),
        recall_count=data["recall_count"],
        started_at=_parse_time(data["started_at"]),
        finished_at=_parse_time(data["finished_at"]),
        transferred_to=data["transferred_to"],
        transferred_from=data["transferred_from"],
        enqueued_here=data["enqueued_here"],
        cancelled_by=data["cancelled_by"],
    )


def _appointment_to_dict(a: Appointment) -> dict[str, Any]:
    return {
        "appointment_id": a.appointment_id,
        "slot_at": a.slot_at.isoformat(),
        "service_type": a.service_type,
        "priority": a.priority,
        "channel": a.channel,
        "language": a.language,
        "personal": _personal_to_dict(a.personal),
        "status": a.status,
        "ticket_id": a.ticket_id,
        "booked_at": a.booked_at.isoformat(),
    }


def _appointment_from_dict(data: dict[str, Any]) -> Appointment:
    return Appointment(
        **{
            **data,
            "slot_at": _required_time(data["slot_at"]),
            "booked_at": _required_time(data["booked_at"]),
            "personal": _personal_from_dict(data["personal"]),
        }
    )


def to_snapshot(state: QueueState) -> dict[str, Any]:
    return {
        "schema": SNAPSHOT_SCHEMA,
        "queue_id": state.queue_id,
        "tenant_id": state.tenant_id,
        "created": state.created,
        "created_at": _time(state.created_at),
        "config": config_to_dict(state.config),
        "status": state.status,
        "version": state.version,
        # In insertion order: dict order is part of "behaves exactly like".
        "tickets": [_ticket_to_dict(t) for t in state.tickets.values()],
        "daily_number": state.daily_number,
        "daily_day": None if state.daily_day is None else state.daily_day.isoformat(),
        "next_seq": state.next_seq,
        "at_counters": {counter: list(ids) for counter, ids in state.at_counters.items()},
        "finished": list(state.finished),
        "totals": dict(state.totals),
        "appointments": [_appointment_to_dict(a) for a in state.appointments.values()],
        "breaks": {c: [_time(s), _time(e)] for c, (s, e) in state.breaks.items()},
    }


def from_snapshot(data: dict[str, Any]) -> QueueState:
    if data.get("schema") != SNAPSHOT_SCHEMA:
        raise ValueError(f"unsupported snapshot schema {data.get('schema')!r}")
    state = QueueState(
        queue_id=data["queue_id"],
        tenant_id=data["tenant_id"],
        created=data["created"],
        created_at=_parse_time(data["created_at"]),
        status=data["status"],
        version=data["version"],
        daily_number=data["daily_number"],
        daily_day=None if data["daily_day"] is None else date.fromisoformat(data["daily_day"]),
        next_seq=data["next_seq"],
    )
    set_config(state, config_from_dict(data["config"]))
    state.tickets = {t["ticket_id"]: _ticket_from_dict(t) for t in data["tickets"]}
    state.waiting = SortedList(
        line_key(state, t) for t in state.tickets.values() if t.status == "waiting"
    )
    state.at_counters = {counter: list(ids) for counter, ids in data["at_counters"].items()}
    state.finished = dict.fromkeys(data["finished"])
    state.totals = dict(data["totals"])
    state.appointments = {
        a["appointment_id"]: _appointment_from_dict(a) for a in data["appointments"]
    }
    state.breaks = {
        c: (_required_time(s), _required_time(e)) for c, (s, e) in data["breaks"].items()
    }
    return state
