"""Live connections' leases (projections/leases.py): limits per client and per process, a
revocation or an expiry ending the followers of the connections that used the credential, and
the newest-view read of a follower (fanout.Follower.newest). No Redis: the hub's sweep and its
subscription call `sweep` and `revoke`, which are driven by hand here."""

from __future__ import annotations

import pytest

from core.revocations import parse_revocation, revocation_message
from projections.fanout import RESYNC, Follower
from projections.leases import (
    ABANDONED_S,
    REMEMBER_S,
    Expired,
    Lease,
    Leases,
    LiveFull,
    LiveLimits,
    Revoked,
    TooManyStreams,
)

NOW = 1_800_000_000.0


class Clocks:
    """Wall-clock (expiries) and monotonic (everything else) time, moved by hand together."""

    def __init__(self) -> None:
        self.wall, self.mono = NOW, 100.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def leases(limits: LiveLimits | None = None) -> tuple[Leases, Clocks]:
    clocks = Clocks()
    return Leases(limits, clock=lambda: clocks.wall, timer=lambda: clocks.mono), clocks


def key(key_id: str = "k1", **more: float) -> Lease:
    return Lease(f"key:{key_id}", key_id=key_id, expires_at=more.get("expires_at"))


def person(user_id: str, session_id: str, expires_at: float | None = None) -> Lease:
    return Lease(f"user:{user_id}", user_id=user_id, session_id=session_id, expires_at=expires_at)


async def test_an_expired_credential_ends_its_followers_at_the_next_sweep() -> None:
    book, clocks = leases()
    token = person("u1", "s1", expires_at=NOW + 5)
    forever = key()
    book.admit(token)
    book.admit(forever)
    followers = [Follower("a", 4), Follower("b", 4), Follower("c", 4)]
    book.attach(token, followers[0])
    book.attach(token, followers[1])
    book.attach(forever, followers[2])
    assert book.sweep() == 0
    clocks.advance(4.9)
    assert book.sweep() == 0 and token.ended is None
    clocks.advance(0.2)
    assert book.sweep() == 1
    for follower in followers[:2]:
        with pytest.raises(Expired):
            await follower.next(0.1)
    assert await followers[2].next(0.01) is None  # the key without an expiry follows on
    with pytest.raises(Expired):  # its connection cannot open another follower either
        book.attach(token, Follower("d", 4))
    assert book.sweep() == 0  # ended once


def test_an_expired_or_revoked_credential_is_not_admitted() -> None:
    book, clocks = leases()
    with pytest.raises(Expired):
        book.admit(key(expires_at=NOW))
    book.revoke({"session_id": "s1"})
    with pytest.raises(Revoked):
        book.admit(person("u1", "s1"))  # an older cache still let it through: refused here
    other_session = person("u1", "s2")
    book.admit(other_session)
    book.attach(other_session, Follower("q", 4))
    clocks.advance(REMEMBER_S)
    book.sweep()
    book.admit(person("u1", "s1"))  # long enough: every cache has heard of it by now
    assert len(book) == 2


async def test_a_revocation_ends_the_connections_that_name_it_and_no_other() -> None:
    book, _ = leases()
    revoked, other = key("k1"), key("k2")
    session, same_person = person("u1", "s1"), person("u1", "s2")
    pairs = [(lease, Follower(lease.identity, 4)) for lease in (revoked, other, session)]
    for lease, follower in pairs:
        book.admit(lease)
        book.attach(lease, follower)
    book.admit(same_person)
    assert book.revoke({"key_id": "k1"}) == 1
    assert book.revoke({"session_id": "s1"}) == 1
    assert book.revoke({"key_id": "unknown"}) == 0
    with pytest.raises(Revoked):
        await pairs[0][1].next(0.1)
    with pytest.raises(Revoked):
        await pairs[2][1].next(0.1)
    assert await pairs[1][1].next(0.01) is None
    assert same_person.ended is None  # another session of the same person
    assert book.revoke({"user_id": "u1"}) == 1  # a person: all of their sessions
    assert same_person.ended is not None
    # Ended connections hold their place until their stream ends and releases it.
    assert len(book) == 4
    for lease in (revoked, session, same_person):
        book.release(lease)
    assert len(book) == 1 and book.open_for("user:u1") == 0


def test_each_client_and_the_process_have_a_limit_and_closing_one_frees_a_place() -> None:
    book, _ = leases(LiveLimits(per_client=2, per_ticket=1, total=4))
    first, second = key(), key()
    book.admit(first)
    book.admit(second)
    book.admit(second)  # admitting twice counts once
    with pytest.raises(TooManyStreams) as refused:
        book.admit(key())
    assert refused.value.limit == 2 and "key or person" in str(refused.value)
    book.admit(Lease.of_ticket("t1"))
    with pytest.raises(TooManyStreams, match="ticket"):
        book.admit(Lease.of_ticket("t1"))
    book.admit(key("k2"))
    with pytest.raises(LiveFull):  # 4 open in all, whoever asks
        book.admit(Lease.of_ticket("t2"))
    book.release(first)
    book.release(first)  # releasing twice frees one place
    assert book.open_for("key:k1") == 1
    book.admit(key())
    assert len(book) == 4


def test_a_lease_whose_stream_never_started_is_released_after_a_while() -> None:
    book, clocks = leases(LiveLimits(per_client=1))
    never_streamed, streaming = key("k1"), key("k2")
    book.admit(never_streamed)
    book.admit(streaming)
    follower = Follower("q", 4)
    book.attach(streaming, follower)
    clocks.advance(ABANDONED_S - 1)
    assert book.sweep() == 0
    clocks.advance(1)
    assert book.sweep() == 1
    assert not book.admitted(never_streamed) and book.admitted(streaming)
    book.admit(key("k1"))  # its place is free again
    # Between two followers (a ticket following a transfer) a lease is not abandoned at once.
    book.detach(streaming, follower)
    clocks.advance(1)
    book.sweep()
    book.attach(streaming, Follower("q2", 4))
    clocks.advance(ABANDONED_S)
    book.sweep()
    assert book.admitted(streaming)


async def test_newest_gives_the_newest_waiting_message_only() -> None:
    follower = Follower("q", 4)
    assert follower.waiter() is not None  # nothing waits: a future to wait on
    for version in (1, 2, 3):
        follower.offer({"version": version})
    assert follower.waiter() is None
    assert follower.newest() == {"version": 3}
    assert follower.newest() is None
    for version in range(4, 10):  # overflows: RESYNC, then what came after it
        follower.offer({"version": version})
    assert follower.newest() == {"version": 9}
    for version in range(10, 15):
        follower.offer({"version": version})
    assert follower.newest() is RESYNC  # nothing newer came after the resync
    follower.offer({"version": 15})
    follower.end(Revoked("gone"))
    with pytest.raises(Revoked):
        follower.newest()
    with pytest.raises(Revoked):
        follower.waiter()


def test_revocation_messages() -> None:
    assert parse_revocation(revocation_message("key_id", "k1")) == {"key_id": "k1"}
    assert parse_revocation(b'{"session_id": "s1", "other": 1}') == {"session_id": "s1"}
    for junk in (b"not json", b"[1]", b'{"key_id": 5}', b'{"key_id": ""}', b"{}"):
        assert parse_revocation(junk) == {}
    with pytest.raises(ValueError):
        revocation_message("tenant_id", "t1")
    assert repr(key()) == "Lease('key:k1')"


def test_released_leases_do_not_pile_up_in_the_expiry_heap() -> None:
    book, _ = leases()
    for _ in range(10_000):  # a screen reconnecting all year with a key that expires next year
        lease = key(expires_at=NOW + 365 * 86400)
        book.admit(lease)
        book.release(lease)
    assert len(book._expiries) <= 64 + 1
