"""The live connections of one API process, by credential: who may open another (per-client and
per-process limits), and which to end when a credential is revoked or expires.

A `Lease` is one live connection (an SSE stream or a WebSocket) and the credential it was opened
with. The route admits it before answering (so a refusal is a 429 or 503, not a stream that
ends at once), every follower the connection opens is attached to it, and the route releases it
when the connection ends. Ending a lease ends its followers: their streams end like any other
(`Revoked` is a `ReadModelUnavailable`), and the client's reconnect is refused (401).

Nothing here waits or does I/O: the hub (fanout.py) calls `revoke` for what its Redis
subscription hears and `sweep` once a second.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from core.errors import Unavailable
from projections.unavailable import ReadModelUnavailable

TICKET: Final = "ticket:"
# A revocation is remembered this long, so a connection opened just after it on a process whose
# caches still accept the credential (API keys are cached up to 10 s) is refused all the same.
REMEMBER_S: Final = 60.0
# A lease admitted for a response that never started streaming (the client left first) has no
# follower; after this long without one it is released, so it cannot hold a place for ever.
ABANDONED_S: Final = 30.0


class Revoked(ReadModelUnavailable):
    """The connection's credential was revoked (a key, a signed-out session): its streams end and
    its reconnect is refused."""

    public_detail = "the credential of this live connection was revoked"


class Expired(Revoked):
    """The connection's credential expired (an API key's expiry, an access token's `exp`)."""

    public_detail = "the credential of this live connection expired"


class TooManyStreams(Exception):
    """The client (a key, a person, a ticket's token) has as many live connections open as it
    may: close one first (a 429)."""

    retry_after_s = 10

    def __init__(self, identity: str, limit: int) -> None:
        kind = "ticket" if identity.startswith(TICKET) else "key or person"
        super().__init__(f"this {kind} has {limit} live streams open, its limit; close one")
        self.limit = limit


class LiveFull(Unavailable):
    """This process holds as many live connections as it may: retry (another replica)."""

    retry_after_s = 5
    public_detail = "this server holds as many live streams as it may; retry (another replica)"


class Endable(Protocol):
    """A follower, as far as its lease is concerned (fanout.Follower)."""

    def end(self, reason: ReadModelUnavailable) -> None: ...


@dataclass(frozen=True, slots=True)
class LiveLimits:
    # Live connections of one key or person on one process.
    per_client: int = 500
    # Live connections of one ticket's own token (a phone, a few tabs) on one process.
    per_ticket: int = 10
    # Live connections of the process, whoever opened them.
    total: int = 20_000


class Lease:
    """One live connection's credential: whom it counts against (`identity`: "key:<id>",
    "user:<id>", or "ticket:<id>" for a ticket's own token), what a revocation may name (the key,
    the session, the person) and when it expires (epoch seconds; None: never)."""

    __slots__ = ("ended", "expires_at", "followers", "identity", "key_id", "session_id", "user_id")

    def __init__(
        self,
        identity: str,
        *,
        key_id: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        self.identity = identity
        self.key_id = key_id
        self.session_id = session_id
        self.user_id = user_id
        self.expires_at = expires_at
        self.ended: Revoked | None = None  # why its connection must end, once it must
        self.followers: set[Endable] = set()

    @classmethod
    def of_ticket(cls, ticket_id: str) -> Lease:
        """A connection opened with a ticket's own token (no key, no session, no expiry)."""
        return cls(f"{TICKET}{ticket_id}")

    def names(self) -> list[tuple[str, str]]:
        """What a revocation of this lease's credential names: (kind, id) pairs."""
        pairs = (("key_id", self.key_id), ("session_id", self.session_id))
        return [(k, v) for k, v in (*pairs, ("user_id", self.user_id)) if v is not None]

    def end(self, reason: Revoked) -> None:
        if self.ended is None:
            self.ended = reason
            for follower in tuple(self.followers):
                follower.end(reason)

    def __repr__(self) -> str:  # never the credential, only whose it is
        return f"Lease({self.identity!r})"


class Leases:
    """The admitted leases of one process, counted per client; revocations and expiries end
    them. `clock`: epoch seconds (expiries); `timer`: monotonic seconds (everything else)."""

    def __init__(
        self,
        limits: LiveLimits | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or LiveLimits()
        self._clock, self._timer = clock, timer
        self._admitted: set[Lease] = set()
        self._clients: dict[str, int] = {}
        self._idle: dict[Lease, float] = {}  # admitted, no follower (since when)
        self._expiries: list[tuple[float, int, Lease]] = []  # a heap: soonest first
        self._order = itertools.count()  # ties in the heap never compare leases
        self._recent: dict[tuple[str, str], float] = {}  # revoked (kind, id) -> when heard

    def __len__(self) -> int:
        return len(self._admitted)

    def open_for(self, identity: str) -> int:
        return self._clients.get(identity, 0)

    def admitted(self, lease: Lease) -> bool:
        return lease in self._admitted

    def admit(self, lease: Lease) -> None:
        """Count the connection (Revoked, Expired, TooManyStreams or LiveFull if it may not
        open); admitting an admitted lease changes nothing."""
        if lease in self._admitted:
            return
        self._refuse_ended(lease)
        if len(self._admitted) >= self.limits.total:
            raise LiveFull(f"{len(self._admitted)} live connections, the process's limit")
        per_ticket = lease.identity.startswith(TICKET)
        limit = self.limits.per_ticket if per_ticket else self.limits.per_client
        if self.open_for(lease.identity) >= limit:
            raise TooManyStreams(lease.identity, limit)
        self._admitted.add(lease)
        self._clients[lease.identity] = self.open_for(lease.identity) + 1
        if not lease.followers:
            self._idle[lease] = self._timer()
        if lease.expires_at is not None:
            heapq.heappush(self._expiries, (lease.expires_at, next(self._order), lease))

    def release(self, lease: Lease) -> None:
        """The connection ended (releasing twice, or a lease never admitted, changes nothing)."""
        if lease not in self._admitted:
            return
        self._admitted.discard(lease)
        self._idle.pop(lease, None)
        left = self.open_for(lease.identity) - 1
        if left > 0:
            self._clients[lease.identity] = left
        else:
            self._clients.pop(lease.identity, None)
        if len(self._expiries) > 2 * len(self._admitted) + 64:
            # Released leases stay in the heap until their expiry (a key's may be years away):
            # drop them once they are most of it, so reconnects cannot grow it for ever.
            self._expiries = [entry for entry in self._expiries if entry[2] in self._admitted]
            heapq.heapify(self._expiries)

    def attach(self, lease: Lease, follower: Endable) -> None:
        """A follower of the connection (it ends with the lease); raises if the lease ended."""
        if lease.ended is not None:
            raise lease.ended
        lease.followers.add(follower)
        self._idle.pop(lease, None)

    def detach(self, lease: Lease, follower: Endable) -> None:
        lease.followers.discard(follower)
        if not lease.followers and lease in self._admitted:
            self._idle[lease] = self._timer()

    def revoke(self, revocation: Mapping[str, str]) -> int:
        """End every lease whose key, session or person `revocation` names, and refuse new ones
        for REMEMBER_S; how many ended."""
        now = self._timer()
        named = set(revocation.items())
        for pair in named:
            self._recent[pair] = now
        if not named:
            return 0
        ended = 0
        for lease in tuple(self._admitted):
            if lease.ended is None and named.intersection(lease.names()):
                lease.end(Revoked(f"{lease.identity}: revoked"))
                ended += 1
        return ended

    def sweep(self) -> int:
        """End the leases whose credential expired, release the abandoned ones and forget old
        revocations; how many ended or were released."""
        count = 0
        now = self._clock()
        while self._expiries and self._expiries[0][0] <= now:
            _, _, lease = heapq.heappop(self._expiries)
            if lease in self._admitted and lease.ended is None:
                lease.end(Expired(f"{lease.identity}: expired"))
                count += 1
        moment = self._timer()
        for lease, since in tuple(self._idle.items()):
            if moment - since >= ABANDONED_S:
                self.release(lease)
                count += 1
        for pair, heard in tuple(self._recent.items()):
            if moment - heard >= REMEMBER_S:
                del self._recent[pair]
        return count

    def _refuse_ended(self, lease: Lease) -> None:
        if lease.ended is not None:
            raise lease.ended
        if lease.expires_at is not None and lease.expires_at <= self._clock():
            lease.end(Expired(f"{lease.identity}: expired"))
            raise Expired(f"{lease.identity}: expired")
        if any(pair in self._recent for pair in lease.names()):
            lease.end(Revoked(f"{lease.identity}: revoked"))
            raise Revoked(f"{lease.identity}: revoked")
