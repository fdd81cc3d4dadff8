"""The relay's reading of commit announcements (NOTIFY payloads: the transaction id, migration
0019): which may hold events it has not published, and the newest of them (once published, with
a read that took all it saw, the relay waits for the next announcement instead of reading again)."""

from __future__ import annotations

from eventstore.relay import UNNAMED, _newer
from eventstore.values import Position

AT = Position(transaction_id=100, global_position=7)


def test_announcements_at_or_before_the_position_were_published() -> None:
    assert _newer("99", AT, None) is None
    assert _newer("100", AT, None) is None
    assert _newer("100", AT, 120) == 120


def test_the_newest_unpublished_announcement_wins() -> None:
    newest = None
    for payload in ("101", "130", "99", "120"):
        newest = _newer(payload, AT, newest)
    assert newest == 130


def test_an_announcement_naming_no_transaction_may_hold_anything() -> None:
    assert _newer("", AT, None) == UNNAMED
    assert _newer("q-1", AT, 130) == UNNAMED  # never "caught up" on it: the relay reads again
