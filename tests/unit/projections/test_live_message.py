"""The batch's live message: its view and the changed tickets' views are spliced in as the read
model stores them (encoded once), and the whole is one JSON document with the version near the
front (the benchmark's observer reads it from the first bytes)."""

from __future__ import annotations

import json

from projections.layout import Keys
from projections.views import dumps
from projections.writer import publish_command

VIEW = {"queue_id": "q", "name": "Desk", "waiting": 3, "serving": [{"counter": "1"}]}
TICKET = {"ticket_id": "t-1", "queue_id": "q", "status": "called", "called_at": "2026-12-04"}
MESSAGE = {"queue_id": "q", "version": 7, "view": VIEW, "changes": [], "etas": {}, "newcomer": None}


def test_the_spliced_message_is_the_message_with_the_changed_tickets_views() -> None:
    command = publish_command(
        Keys("vq"), "t", "q", dict(MESSAGE), dumps(VIEW), {"t-1": dumps(TICKET)}
    )
    assert command[0] == "PUBLISH" and command[1] == Keys("vq").changes("t", "q")
    body = str(command[2])
    assert json.loads(body) == {**MESSAGE, "tickets": {"t-1": TICKET}}
    assert '"version":7' in body[:60]


def test_no_ticket_changed_and_no_view_given() -> None:
    none = publish_command(Keys("vq"), "t", "q", dict(MESSAGE), dumps(VIEW), {})
    assert json.loads(str(none[2])) == {**MESSAGE, "tickets": {}}
    plain = publish_command(Keys("vq"), "t", "q", dict(MESSAGE))
    assert json.loads(str(plain[2])) == MESSAGE
