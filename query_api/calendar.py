"""A minimal iCalendar (RFC 5545) writer for the appointments feed: one VEVENT a booking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def _text(value: str) -> str:
    """TEXT escaping (RFC 5545 3.3.11)."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> list[str]:
    """Lines longer than 75 octets are folded (3.1), never inside a UTF-8 character."""
    out: list[str] = []
    current = ""
    for char in line:
        if len((current + char).encode()) > (75 if not out else 74):
            out.append(current)
            current = ""
        current += char
    out.append(current)
    return [out[0], *(" " + part for part in out[1:])]


def calendar(name: str, bookings: list[tuple[str, int, dict[str, Any]]], now: datetime) -> str:
    """`bookings`: (queue name, slot minutes, booking as the API shows it)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//virtual-queue//appointments//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_text(name)}",
    ]
    for queue, minutes, b in sorted(
        bookings, key=lambda x: (x[2]["slot_at"], x[2]["appointment_id"])
    ):
        service = f" ({b['service_type']})" if b["service_type"] else ""
        lines += [
            "BEGIN:VEVENT",
            f"UID:{b['appointment_id']}@virtual-queue",
            f"DTSTAMP:{_when(now)}",
            f"DTSTART:{_when(b['slot_at'])}",
            f"DTEND:{_when(b['slot_at'] + timedelta(minutes=minutes))}",
            f"SUMMARY:{_text(f'{queue}: booking{service}')}",
            f"DESCRIPTION:{_text('status ' + b['status'])}",
            "STATUS:CONFIRMED",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))
