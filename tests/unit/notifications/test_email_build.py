"""An email's headers read back as they were written, however long and whatever the alphabet: a
folded subject must not gain a leading space in the reader's client."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from notifications.channels.email import build
from notifications.messages import Message, Rendered

SENDER = "Virtual Queue <noreply@vq.example.org>"


def _message(to: str) -> Message:
    return Message(
        id="sub-1:ahead-3:1",
        tenant_id="tenant",
        channel="email",
        to=to,
        topic="ahead",
        created_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        order_key="ticket",
        data={},
    )


@pytest.mark.parametrize(
    "subject",
    [
        "A-006: almost your turn at Café de la Gare \u2013 Bureau des passeports et d'identité",
        "A-006: almost your turn at the Department of Motor Vehicles, Licences and Registrations",
        "Vielen Dank für Ihren Besuch bei Bürgerbüro Mitte",
        "A-006",
    ],
)
def test_the_subject_reads_back_as_written(subject: str) -> None:
    raw, to = build(_message("ana@example.org"), Rendered("Hello", subject), SENDER)
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == subject
    assert to == "ana@example.org"
    assert all(len(line) <= 78 for line in raw.split(b"\n\n")[0].splitlines())


def test_a_long_non_ascii_name_and_the_text_read_back_as_written() -> None:
    name = "Zoë Müller-Lüdenscheid von und zu Großherzogtum-Württemberg"
    raw, to = build(
        _message(f'"{name}" <zoe@example.org>'),
        Rendered("A-006: c'est presque à vous à Café.", "A-006 : bientôt votre tour"),
        SENDER,
    )
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["To"].addresses[0].display_name == name
    assert mail["To"].addresses[0].addr_spec == to == "zoe@example.org"
    assert mail.get_content() == "A-006: c'est presque à vous à Café."
