"""The relay's watch on being held (eventstore/holders.py), on a stand-in connection: quiet for a
moment's wait, a warning naming the oldest writer once a commit stays behind the horizon, none
for an announcement the horizon has passed (another schema's commit on the same database)."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from eventstore import holders
from eventstore.holders import HeldWatch, Writer
from eventstore.leadership import Connect

LOG = logging.getLogger("test.held")


class _Server:
    """Answers the horizon query and the oldest-writer query as a PostgreSQL server would."""

    def __init__(self, horizon: int, writer: tuple[Any, ...] | None) -> None:
        self.horizon, self.writer, self.looked = horizon, writer, 0

    async def connect(self) -> _Server:
        self.looked += 1
        return self

    async def execute(self, query: str) -> _Server:
        self._row = (str(self.horizon), "0") if "pg_snapshot_xip" in query else self.writer
        return self

    async def fetchone(self) -> Any:
        return self._row

    async def close(self) -> None:
        pass


SESSION = ("session", "4242", "vq", "vq", "psql", "idle in transaction", 125.4)


def _watching(
    monkeypatch: pytest.MonkeyPatch, horizon: int, writer: tuple[Any, ...] | None
) -> tuple[_Server, HeldWatch]:
    """A watch that tells at the first look (TOLD_S 0) on a stand-in server."""
    monkeypatch.setattr(holders, "TOLD_S", 0.0)
    server = _Server(horizon, writer)
    return server, HeldWatch(cast(Connect, server.connect), LOG, "relay")


async def test_a_commit_held_past_the_wait_is_told_with_its_holder_then_its_end(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, watch = _watching(monkeypatch, 100, SESSION)
    watch.announced(150)
    with caplog.at_level(logging.WARNING, logger="test.held"):
        await watch.read_to(90)
        await watch.read_to(90)  # told once a RETOLD_S, not on every look
        await watch.read_to(150)
    told, going = [r.getMessage() for r in caplog.records]
    assert told.startswith("relay held for") and "session pid 4242 (database vq, user vq" in told
    assert "application 'psql', idle in transaction, its transaction open 125 s)" in told
    assert going.startswith("relay going again after")


async def test_an_announcement_the_horizon_has_passed_holds_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, watch = _watching(monkeypatch, 200, None)
    watch.announced(150)  # another schema's commit: this reader has nothing of it to read
    with caplog.at_level(logging.WARNING, logger="test.held"):
        await watch.read_to(90)
        await watch.read_to(90)
    assert caplog.records == [] and server.looked == 1  # looked once, then forgot it


async def test_nothing_is_looked_up_while_the_hold_is_short() -> None:
    server = _Server(horizon=100, writer=SESSION)
    watch = HeldWatch(cast(Connect, server.connect), LOG, "relay")
    watch.announced(150)
    await watch.read_to(90)
    watch.announced(2**63)  # an announcement naming no transaction is not counted
    await watch.read_to(150)
    assert server.looked == 0


def test_a_writer_is_described_with_what_the_server_shows() -> None:
    hidden = Writer("session", "77", None, None, None, None, None)  # another role's session
    prepared = Writer("prepared transaction", "batch-9", "vq", "vq", None, "prepared", 3.0)
    assert hidden.describe() == "session pid 77"
    assert prepared.describe() == (
        "prepared transaction 'batch-9' (database vq, user vq, prepared, its transaction open 3 s)"
    )


async def test_a_second_hold_is_told_as_soon_as_the_first_was(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _, watch = _watching(monkeypatch, 100, SESSION)
    with caplog.at_level(logging.WARNING, logger="test.held"):
        watch.announced(150)
        await watch.read_to(90)
        await watch.read_to(150)  # the first hold ends
        watch.announced(200)
        await watch.read_to(160)  # a new one: told now, not a RETOLD_S after the first
    told = [r.getMessage() for r in caplog.records]
    assert [m.split(" ")[1] for m in told] == ["held", "going", "held"], told
