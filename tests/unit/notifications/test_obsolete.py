"""Which messages to a person no longer hold when they are sent, and the ticket's link: its token
added as it is sent, a link from before (token and all) left as it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.tokens import ticket_token
from notifications.delivery import with_token
from notifications.fanout import return_by
from notifications.messages import Message
from notifications.obsolete import obsolete
from notifications.rules import Rule, Watch
from notifications.store.watches import Standing

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SUB, TICKET, QUEUE = "sub-1", "ticket-1", "queue-a"
SECRET = "s" * 32


def message(topic: str, rule: str | None = None, crossing: int = 1, **more: Any) -> Message:
    """A due notification as the notifier makes it (id `subscription:rule:crossing`)."""
    fields: dict[str, Any] = {
        "id": f"{SUB}:{rule or topic}:{crossing}",
        "tenant_id": "tenant",
        "channel": "sms",
        "to": "",
        "topic": topic,
        "created_at": T0,
        "order_key": TICKET,
        "queue_id": QUEUE,
        "ticket_id": TICKET,
        "subscription_id": SUB,
        "data": {"ticket_url": f"https://q.example/t/{TICKET}"},
    }
    return Message(**(fields | more))


def standing(
    status: str | None = "waiting",
    *,
    fired: dict[str, int] | None = None,
    within: dict[str, bool] | None = None,
    cancelled: bool = False,
    queue_id: str = QUEUE,
    closing: dict[str, datetime] | None = None,
) -> Standing:
    watch = Watch(
        SUB,
        (Rule("ahead", 3), Rule("called")),
        fired={"ahead-3": 1} if fired is None else fired,
        within={"ahead-3": True} if within is None else within,
        left=status in ("served", "cancelled"),
        status=status,
    )
    return Standing("+447700900200", cancelled, queue_id, watch, closing or {})


AHEAD = message("ahead", "ahead-3")


@pytest.mark.parametrize(
    ("sent", "now", "why"),
    [
        (AHEAD, standing(), None),
        (AHEAD, standing(cancelled=True), "the subscription was cancelled"),
        (message("served"), standing(cancelled=True), "the subscription was cancelled"),
        (AHEAD, standing("called", within={"ahead-3": False}), "no longer within"),
        (AHEAD, standing("called"), "the ticket was called"),
        (AHEAD, standing("no_show"), "marked no-show"),
        (AHEAD, standing("transferred"), "the ticket was transferred"),
        (AHEAD, standing(queue_id="queue-b"), "transferred to another queue"),
        (AHEAD, standing("served"), "the ticket was served"),
        (AHEAD, standing("cancelled"), "the ticket was cancelled"),
        # The rule fired again since (the ticket came back within it): the newer one holds.
        (AHEAD, standing(fired={"ahead-3": 2}), "a later message of the same rule"),
        # "It's your turn" was made after it, even before the watch says "called".
        (AHEAD, standing(closing={"called": T0 + timedelta(seconds=5)}), "was called since"),
        # ...but not one from before it (called, no-show, back in line, "3 ahead" again).
        (AHEAD, standing(closing={"called": T0 - timedelta(minutes=5)}), None),
        (message("eta", "eta-600"), standing("serving", fired={"eta-600": 1}), "being served"),
        (message("called"), standing("called", fired={"called": 1}), None),
        (message("called"), standing("serving", fired={"called": 1}), "being served"),
        (message("recalled"), standing("served", fired={"recalled": 1}), "was served"),
        (message("served"), standing("served", fired={"served": 1}), None),
        (message("paused"), standing("cancelled"), "the ticket was cancelled"),
        # "Your place is cancelled" is the message about its leaving: sent after it left...
        (message("cancelled"), standing("cancelled", fired={"cancelled": 1}), None),
        (message("cancelled"), standing("cancelled", cancelled=True), "subscription was cancelled"),
        # ...and it ends what came before: a retried "it's your turn" or "3 ahead" made before it.
        (message("called"), standing(closing={"cancelled": T0}), "was cancelled since"),
        (AHEAD, standing(closing={"cancelled": T0 + timedelta(seconds=5)}), "was cancelled since"),
        (message("announcement", crossing=0, id="sched:1:sub-1"), standing("called"), None),
        # "Come back by 10:45" holds while the ticket is a no-show, not once it came back.
        (message("missed"), standing("no_show", fired={"missed": 1}), None),
        (message("missed"), standing("called", fired={}), None),  # news: the watch is older
        (message("missed"), standing("waiting", fired={"missed": 1}), "came back"),
        (message("missed"), standing("cancelled", fired={"missed": 1}), "was cancelled"),
        # "Moved to Radiology, now R-006" holds in its new line, not after it left or moved on.
        (message("moved", queue_id="queue-b"), standing(queue_id="queue-b"), None),
        (message("moved"), standing("served", fired={"moved": 1}), "the ticket was served"),
        (message("moved"), standing(fired={"moved": 2}), "moved again"),
    ],
)
def test_what_no_longer_holds(sent: Message, now: Standing, why: str | None) -> None:
    found = obsolete(sent, now, T0)
    assert (found is None) == (why is None), found
    assert why is None or (found is not None and why in found), found


def test_a_message_the_watch_has_not_folded_yet_is_news() -> None:
    """The watch is written after its messages are on the topics: a "3 ahead" made as a no-show
    came back may come before the watch has left "no_show", and it holds."""
    again = message("ahead", "ahead-3", crossing=2)
    assert obsolete(again, standing("no_show", fired={"ahead-3": 1}), T0) is None
    moved = message("ahead", "ahead-3", queue_id="queue-b")
    assert obsolete(moved, standing(fired={}, queue_id=QUEUE), T0) is None


def test_the_token_is_added_as_the_message_is_sent_and_an_old_link_stays() -> None:
    token = ticket_token(SECRET, TICKET)
    linked, used = with_token(AHEAD, SECRET)
    assert linked.data["ticket_url"] == f"https://q.example/t/{TICKET}#token={token}"
    assert used == token and AHEAD.data["ticket_url"].endswith(TICKET)  # the record unchanged
    old = message("ahead", "ahead-3", data={"ticket_url": f"https://q.example/t/{TICKET}#token=x"})
    assert with_token(old, SECRET) == (old, token)
    bare = message("announcement", data={"text": "closing at 5"})
    assert with_token(bare, SECRET) == (bare, None)


def test_the_time_to_come_back_by_is_the_queues_clock() -> None:
    """The grace period of the queue's settings, on its time zone; none: the ticket ended."""
    settings = {"timezone": "Europe/Paris", "no_show_grace_seconds": 900}
    back = return_by(T0, settings)
    assert back is not None and back.strftime("%H:%M") == "10:15"  # 09:00 UTC + 15 min, Paris
    assert return_by(T0, {**settings, "no_show_grace_seconds": 0}) is None


CONFIRMED = message("subscribed")  # "A-006: you're in line at Passports, 2 ahead..."


@pytest.mark.parametrize(
    ("now", "why"),
    [
        (standing(), None),
        (standing(None, fired={}, within={}), None),  # a watch the notifier has not written yet
        # A retried "you're in line" after "it's your turn" (made after it) is not sent.
        (standing(closing={"called": T0 + timedelta(seconds=5)}), "was called since"),
        (standing(closing={"called": T0 - timedelta(minutes=5)}), None),  # called before, back
        (standing("called"), "the ticket was called"),
        (standing("serving"), "being served"),
        (standing("no_show"), "marked no-show"),
        (standing("served"), "the ticket was served"),
        (standing("cancelled"), "the ticket was cancelled"),
        (standing(cancelled=True), "the subscription was cancelled"),
    ],
)
def test_a_confirmation_holds_until_the_ticket_is_called_or_left(
    now: Standing, why: str | None
) -> None:
    found = obsolete(CONFIRMED, now, T0)
    assert (found is None) == (why is None), found
    assert why is None or (found is not None and why in found), found
