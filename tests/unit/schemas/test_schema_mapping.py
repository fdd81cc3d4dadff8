"""Domain event <-> plain record: the shape the event store keeps as JSONB, and strict reading."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.config import AppointmentSettings, OpeningHours, QueueConfig
from domain.events import QueueCreated, QueueReconfigured, TicketEnqueued
from domain.recorded import RecordedEvent
from schemas.errors import UnknownEventType
from schemas.mapping import (
    event_to_record,
    payload_fields,
    record_to_event,
    upcast,
    upcast_to_event,
)

_AT = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


def _through_json(record: dict[str, Any]) -> Any:
    """What the event store does: JSON with datetimes as ISO-8601 strings."""
    return json.loads(json.dumps(record, default=datetime.isoformat))


def test_record_round_trip(recorded: RecordedEvent) -> None:
    record = event_to_record(recorded.event)

    assert record_to_event(recorded.event_type, record) == recorded.event


def test_record_round_trip_through_json(recorded: RecordedEvent) -> None:
    stored = _through_json(event_to_record(recorded.event))

    assert record_to_event(recorded.event_type, stored) == recorded.event
    assert upcast_to_event(recorded.event_type, recorded.schema_version, stored) == recorded.event


def test_record_is_plain_data(recorded: RecordedEvent) -> None:
    record = event_to_record(recorded.event)

    assert list(record) == list(payload_fields(recorded.event_type))
    assert _through_json(record) is not None  # nothing but datetimes needs help
    assert record["at"] == recorded.event.at
    assert isinstance(record["at"], datetime)


def test_nested_values_become_dicts_and_lists(
    samples_by_type: dict[str, list[RecordedEvent]],
) -> None:
    event = samples_by_type["QueueCreated"][0].event
    assert isinstance(event, QueueCreated)

    config = event_to_record(event)["config"]

    assert config["counters"] == ["1", "2", "Schalter 3"]
    assert config["opening_hours"][0] == {"weekday": 0, "opens": "08:00", "closes": "12:30"}
    assert config["metadata"] == {"district": "Mitte", "sign": "🎫 Ausweis"}
    assert config["capacity"] == 120


def test_nested_dicts_become_dataclasses() -> None:
    record = {
        "queue_id": "q",
        "tenant_id": "t",
        "config": {
            "name": "Post office",
            "prefix": "P",
            "service_types": [],
            "counters": ["1", "2"],
            "capacity": None,
            "priority_classes": ["urgent", "normal"],
            "default_priority": "normal",
            "timezone": "Europe/Lisbon",
            "opening_hours": [{"weekday": 2, "opens": "09:00", "closes": "17:00"}],
            "allow_outside_hours": False,
            "aging_after_seconds": None,
            "aging_max_priority": None,
            "no_show_grace_seconds": 600,
            "transfer_policy": "keep_enqueue_time",
            "busy_counter_policy": "close_previous",
            "target_wait_seconds": 900,
            "mean_service_seconds": 300,
            "metadata": {},
            "site": "Baixa",
            "appointments": {
                "slot_minutes": 30,
                "per_slot": 2,
                "lead_minutes": 10,
                "early_minutes": 60,
                "grace_minutes": 10,
                "horizon_days": 14,
            },
        },
        "status": "paused",
        "at": "2025-01-01T00:00:00Z",
    }

    event = record_to_event("QueueCreated", record)

    assert isinstance(event, QueueCreated)
    assert event.config == QueueConfig(
        name="Post office",
        prefix="P",
        counters=("1", "2"),
        priority_classes=("urgent", "normal"),
        timezone="Europe/Lisbon",
        opening_hours=(OpeningHours(weekday=2, opens="09:00", closes="17:00"),),
        busy_counter_policy="close_previous",
        mean_service_seconds=300,
        site="Baixa",
        appointments=AppointmentSettings(slot_minutes=30, per_slot=2, horizon_days=14),
    )


# -- strict reading -------------------------------------------------------------------------------


def _called(**changes: Any) -> dict[str, Any]:
    record = {
        "ticket_id": "tk-1",
        "counter": "2",
        "override": False,
        "reason": None,
        "at": "2025-03-14T09:26:53.589793+01:00",
    }
    return {**record, **changes}


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        ({k: v for k, v in _called().items() if k != "counter"}, ValueError, r"missing.*counter"),
        (_called(colour="red"), ValueError, r"unexpected.*colour"),
        (_called(override="no"), TypeError, r"override: expected bool"),
        (_called(counter=None), TypeError, r"counter: must not be null"),
        (_called(at="2025-03-14T09:26:53"), ValueError, r"at: datetime must carry a time zone"),
        (_called(at="yesterday"), ValueError, r"at: 'yesterday' is not an ISO-8601"),
        (_called(at=1741944413), TypeError, r"at: expected a datetime"),
    ],
)
def test_record_to_event_names_the_bad_field(
    record: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        record_to_event("TicketCalled", record)


def test_bool_is_not_an_int() -> None:
    record = {"ticket_id": "tk-1", "seq": True, "at": "2025-03-14T09:26:53Z"}

    with pytest.raises(TypeError, match="seq: expected int"):
        record_to_event("TicketReturned", record)


def test_literal_values_are_checked() -> None:
    record = {"ticket_id": "tk-1", "by": "robot", "reason": None, "at": "2025-03-14T09:26:53Z"}

    with pytest.raises(ValueError, match="by: 'robot' is not one of"):
        record_to_event("TicketCancelled", record)


def test_unknown_event_type() -> None:
    with pytest.raises(UnknownEventType, match="TicketTeleported"):
        record_to_event("TicketTeleported", {})


def test_naive_datetimes_are_refused_when_writing(
    samples_by_type: dict[str, list[RecordedEvent]],
) -> None:
    event = samples_by_type["QueueOpened"][0].event
    naive = type(event)(at=datetime(2025, 3, 14, 9, 0))  # type: ignore[call-arg]

    with pytest.raises(ValueError, match="at: datetime must carry a time zone"):
        event_to_record(naive)


# -- upcasting ------------------------------------------------------------------------------------


def test_upcast_ticket_enqueued_v1_adds_language_none() -> None:
    v1 = {"ticket_id": "tk-1", "at": "2025-03-14T09:26:53Z"}

    lifted = upcast("TicketEnqueued", 1, v1)

    assert lifted == {**v1, "language": None, "contact": None, "personal": None}
    assert "language" not in v1, "upcasting never mutates its input"


@pytest.mark.parametrize("event_type", ["TicketEnqueued", "TicketTransferredIn"])
def test_upcast_v2_drops_a_contact_in_the_clear(event_type: str) -> None:
    """Before v3 a person's details were stored in the clear; read, they are dropped (nothing
    folds them, and nothing that reads events may spread what can never be erased)."""
    v2 = {"ticket_id": "tk-1", "contact": {"name": "Ana", "phone": "+34 600", "email": None}}

    assert upcast(event_type, 2, v2) == {"ticket_id": "tk-1", "contact": None, "personal": None}
    assert v2["contact"] is not None, "upcasting never mutates its input"


def test_upcast_queue_reconfigured_v2_adds_reason_none() -> None:
    """Changes before v3 gave no reason; a v2 record is otherwise the v3 one."""
    v2 = event_to_record(QueueReconfigured(config=QueueConfig(name="Front desk"), at=_AT))
    del v2["reason"]

    assert upcast("QueueReconfigured", 2, v2) == {**v2, "reason": None}
    assert "reason" not in v2, "upcasting never mutates its input"
    event = upcast_to_event("QueueReconfigured", 2, _through_json(v2))
    assert isinstance(event, QueueReconfigured)
    assert event == QueueReconfigured(config=QueueConfig(name="Front desk"), at=_AT, reason=None)


def test_upcast_queue_reconfigured_v1_takes_both_steps() -> None:
    v1 = event_to_record(QueueReconfigured(config=QueueConfig(name="Front desk"), at=_AT))
    del v1["reason"]
    del v1["config"]["busy_counter_policy"]

    lifted = upcast("QueueReconfigured", 1, v1)

    assert lifted["reason"] is None and lifted["config"]["busy_counter_policy"] == "refuse"


def test_upcast_of_the_current_version_changes_nothing(
    samples_by_type: dict[str, list[RecordedEvent]],
) -> None:
    event = samples_by_type["TicketEnqueued"][0].event
    assert isinstance(event, TicketEnqueued)
    record = event_to_record(event)

    assert upcast("TicketEnqueued", TicketEnqueued.VERSION, record) == record


@pytest.mark.parametrize("version", [0, 4, -1])
def test_upcast_refuses_versions_that_do_not_exist(version: int) -> None:
    with pytest.raises(UnknownEventType, match=f"no schema version {version}"):
        upcast("TicketEnqueued", version, {})
