"""Realistic recorded events of every type: full and sparse (None optionals, empty collections).

Tests that take a `recorded` argument run once per sample.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.config import AppointmentSettings, OpeningHours, QueueConfig
from domain.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentRescheduled,
    AppointmentTransferredIn,
    AppointmentTransferredOut,
    Contact,
    CounterBreakSet,
    PersonalData,
    QueueClosed,
    QueueCreated,
    QueueEvent,
    QueueOpened,
    QueuePaused,
    QueueReconfigured,
    QueueResumed,
    ServiceStarted,
    TicketCalled,
    TicketCancelled,
    TicketEnqueued,
    TicketNoShow,
    TicketPriorityChanged,
    TicketPromoted,
    TicketRecalled,
    TicketReturned,
    TicketServed,
    TicketTransferredIn,
    TicketTransferredOut,
)
from domain.recorded import RecordedEvent

TENANT = "tenant-7c1e"
QUEUE = "0b5f8e2a-6f0e-4c8e-9d0a-3f1c2b7a9e11"
BERLIN_WINTER = timezone(timedelta(hours=1))
AT = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
# Not UTC on purpose: Avro stores the instant, and an aware datetime compares by instant.
AT_LOCAL = datetime(2025, 3, 14, 10, 26, 53, 589793, tzinfo=BERLIN_WINTER)

FULL_CONFIG = QueueConfig(
    name="Bürgerbüro Mitte \u2013 Anmeldung 🏛",
    prefix="B",
    service_types=("passport", "id-card", "Führerschein"),
    counters=("1", "2", "Schalter 3"),
    capacity=120,
    priority_classes=("emergency", "urgent", "vip", "normal", "low"),
    default_priority="normal",
    timezone="Europe/Berlin",
    opening_hours=(
        OpeningHours(weekday=0, opens="08:00", closes="12:30"),
        OpeningHours(weekday=0, opens="13:30", closes="18:00"),
        OpeningHours(weekday=4, opens="08:00", closes="12:00"),
    ),
    allow_outside_hours=True,
    aging_after_seconds=1800,
    aging_max_priority="vip",
    no_show_grace_seconds=300,
    transfer_policy="back_of_line",
    busy_counter_policy="close_previous",
    target_wait_seconds=1200,
    mean_service_seconds=420,
    metadata={"district": "Mitte", "sign": "🎫 Ausweis"},
    site="Rathaus Mitte \u2013 Erdgeschoss",
    appointments=AppointmentSettings(
        slot_minutes=20, per_slot=3, lead_minutes=5, early_minutes=45, grace_minutes=7
    ),
)
SPARSE_CONFIG = QueueConfig(name="Pharmacy")
# What privacy/sealing.py makes of a person's details: their key's id and the ciphertext.
PERSONAL = PersonalData(
    key_id="6f1c1d9e-55a4-4a57-9d1e-2f7b0c8a9e11", sealed="bm9uY2UxMjM0NTY3OGNpcGhlcnRleHQ="
)


def _enqueued(personal: PersonalData | None, language: str | None) -> TicketEnqueued:
    return TicketEnqueued(
        ticket_id="tk-01HQ8Z4",
        number="B-042",
        daily_number=42,
        seq=7,
        priority="vip",
        service_type="passport" if personal else None,
        channel="kiosk",
        metadata={"kiosk": "K-2", "note": "Rollstuhl ♿"} if personal else {},
        language=language,
        personal=personal,
        at=AT_LOCAL,
    )


def _transferred_in(personal: PersonalData | None) -> TicketTransferredIn:
    return TicketTransferredIn(
        ticket_id="tk-01HQ8Z4",
        from_queue_id="queue-ß-2",
        number="C-003",
        daily_number=3,
        seq=1,
        priority="normal",
        service_type="id-card" if personal else None,
        channel="web",
        metadata={"origin": "transfer"} if personal else {},
        original_enqueued_at=AT - timedelta(minutes=25),
        order_at=AT - timedelta(minutes=25, microseconds=1),
        personal=personal,
        at=AT,
    )


SAMPLE_EVENTS: list[tuple[str, QueueEvent]] = [
    (
        "full",
        QueueCreated(queue_id=QUEUE, tenant_id=TENANT, config=FULL_CONFIG, status="open", at=AT),
    ),
    (
        "sparse",
        QueueCreated(
            queue_id=QUEUE, tenant_id=TENANT, config=SPARSE_CONFIG, status="closed", at=AT
        ),
    ),
    (
        "full",
        QueueReconfigured(
            config=FULL_CONFIG, at=AT_LOCAL, reason="Vorschlag bestätigt: Schalter 3 öffnen ✅"
        ),
    ),
    ("sparse", QueueReconfigured(config=SPARSE_CONFIG, at=AT)),
    ("full", QueueOpened(at=AT)),
    ("full", QueuePaused(reason="Mittagspause \u2013 back at 13:30", at=AT)),
    ("sparse", QueuePaused(reason=None, at=AT)),
    ("full", QueueResumed(at=AT)),
    ("full", QueueClosed(reason="Stromausfall ⚡", at=AT)),
    ("sparse", QueueClosed(reason=None, at=AT)),
    ("full", _enqueued(PERSONAL, "de-CH")),
    ("sparse", _enqueued(None, None)),
    # The field v3 no longer writes still encodes (an older producer's record reads through it).
    ("legacy-contact", replace(_enqueued(None, "zh-Hant"), contact=Contact(name="李小龍"))),
    (
        "full",
        TicketCalled(
            ticket_id="tk-01HQ8Z4",
            counter="Schalter 3",
            override=True,
            reason="Termin 9:30",
            at=AT,
        ),
    ),
    ("sparse", TicketCalled(ticket_id="tk-1", counter="1", override=False, reason=None, at=AT)),
    ("full", TicketRecalled(ticket_id="tk-1", counter="2", recall_count=2, at=AT)),
    ("full", ServiceStarted(ticket_id="tk-1", counter="2", at=AT)),
    ("full", TicketServed(ticket_id="tk-1", counter="2", at=AT + timedelta(minutes=7))),
    ("full", TicketNoShow(ticket_id="tk-1", counter="2", at=AT)),
    ("full", TicketCancelled(ticket_id="tk-1", by="customer", reason="zu lange 😴", at=AT)),
    ("sparse", TicketCancelled(ticket_id="tk-1", by="staff", reason=None, at=AT)),
    ("full", TicketReturned(ticket_id="tk-1", seq=9_000_000_001, at=AT)),
    (
        "full",
        TicketPriorityChanged(
            ticket_id="tk-1",
            from_priority="normal",
            to_priority="emergency",
            reason="medical",
            at=AT,
        ),
    ),
    ("full", TicketPromoted(ticket_id="tk-1", from_priority="normal", to_priority="vip", at=AT)),
    (
        "full",
        TicketTransferredOut(ticket_id="tk-1", to_queue_id="queue-ß-2", reason="wrong desk", at=AT),
    ),
    ("sparse", TicketTransferredOut(ticket_id="tk-1", to_queue_id="q2", reason=None, at=AT)),
    ("full", _transferred_in(PERSONAL)),
    ("sparse", _transferred_in(None)),
    (
        "full",
        AppointmentBooked(
            appointment_id="ap-1",
            slot_at=AT_LOCAL,
            service_type="passport",
            priority="vip",
            channel="web",
            language="de",
            personal=PERSONAL,
            at=AT,
        ),
    ),
    (
        "sparse",
        AppointmentBooked(
            appointment_id="ap-2",
            slot_at=AT,
            service_type=None,
            priority="normal",
            channel="api",
            at=AT,
        ),
    ),
    ("full", AppointmentTransferredOut(appointment_id="ap-1", to_queue_id="queue-ß-2", at=AT)),
    (
        "full",
        AppointmentTransferredIn(
            appointment_id="ap-1",
            from_queue_id="queue-ß-2",
            slot_at=AT_LOCAL,
            service_type="passport",
            priority="vip",
            channel="web",
            language="de",
            personal=PERSONAL,
            at=AT,
        ),
    ),
    (
        "sparse",
        AppointmentTransferredIn(
            appointment_id="ap-2",
            from_queue_id="q2",
            slot_at=AT,
            service_type=None,
            priority="normal",
            channel="api",
            at=AT,
        ),
    ),
    ("full", AppointmentRescheduled(appointment_id="ap-1", slot_at=AT_LOCAL, at=AT)),
    (
        "full",
        CounterBreakSet(counter="3", starts_at=AT, ends_at=AT_LOCAL + timedelta(minutes=30), at=AT),
    ),
    ("sparse", CounterBreakSet(counter="1", starts_at=AT, ends_at=AT, at=AT)),
    ("full", AppointmentCancelled(appointment_id="ap-1", by="staff", reason="ill ♿", at=AT)),
    ("sparse", AppointmentCancelled(appointment_id="ap-2", by="customer", reason=None, at=AT)),
    (
        "full",
        AppointmentCheckedIn(
            appointment_id="ap-1",
            ticket_id="tk-9",
            number="B-043",
            daily_number=43,
            seq=8,
            priority="vip",
            service_type="passport",
            channel="web",
            language="de",
            personal=PERSONAL,
            slot_at=AT_LOCAL,
            order_at=AT_LOCAL - timedelta(minutes=5),
            at=AT,
        ),
    ),
    (
        "sparse",
        AppointmentCheckedIn(
            appointment_id="ap-2",
            ticket_id="tk-10",
            number="B-044",
            daily_number=44,
            seq=9,
            priority="normal",
            service_type=None,
            channel="api",
            slot_at=AT,
            order_at=AT,
            at=AT,
        ),
    ),
]


def _record(event: QueueEvent, stream_version: int = 17) -> RecordedEvent:
    return RecordedEvent(
        event_id="5d0f3c1e-8a7b-4c2d-9e6f-1a2b3c4d5e6f",
        tenant_id=TENANT,
        queue_id=QUEUE,
        stream_version=stream_version,
        event=event,
        occurred_at=AT + timedelta(microseconds=250),
        command_id="cmd-0c9a",
        correlation_id="corr-77",
        actor="apikey:ops-dashboard",
        global_position=4711,
    )


SAMPLES: list[tuple[str, RecordedEvent]] = [
    (f"{event.TYPE}-{label}", _record(event)) for label, event in SAMPLE_EVENTS
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "recorded" in metafunc.fixturenames:
        metafunc.parametrize(
            "recorded", [sample for _, sample in SAMPLES], ids=[name for name, _ in SAMPLES]
        )


@pytest.fixture
def samples_by_type() -> dict[str, list[RecordedEvent]]:
    by_type: dict[str, list[RecordedEvent]] = {}
    for _, sample in SAMPLES:
        by_type.setdefault(sample.event_type, []).append(sample)
    return by_type
