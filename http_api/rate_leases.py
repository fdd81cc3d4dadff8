"""Leases of a busy caller's rate limit: charged to Redis a block at a time, spent here.

Charging every request to Redis is one round trip per request: about a sixth of the API's CPU
at 200 commands a second (py-spy, bench followers phase). A caller that sent more than one
request in the last second is charged instead for as many as it sent then (a twentieth of its
limit at most) in one go, and the requests that follow spend that lease in this process, with
no round trip, for LEASE_LIFE_S at most (however slowly: a pause does not lose what was paid
for). A caller at a request now and then is charged one by one, as before, and near its limit
(no room for a whole lease) every request is charged alone: the limit is never exceeded, and
refusals come at exactly the same count for one replica.

What it costs: the RateLimit-Remaining of a spent lease is what Redis said when it was taken,
less what was spent since (the previous window's fading count is not re-read until the lease
is spent); with several replicas each may hold a lease, so a caller may be refused by one while
another still holds some of its quota; and a caller that stops has the rest of its last lease
(a second's worth, a twentieth of its limit at most) counted as used until the window fades.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

LEASE_SHARE = 20  # a lease is at most limit // LEASE_SHARE requests
# The pace is measured over this, and a caller at its limit is charged one by one this long.
LEASE_S = 1.0
# A lease is spent within this, well inside the limit's window (a minute), so that what is spent
# from it was counted in the window the caller is judged by. (It was dropped LEASE_S after it was
# charged, later LEASE_S after its last use: a caller slowed down by a busy machine lost the rest
# of a lease at each pause of a second, and was refused short of its limit: 954 then 965 of 1,000
# in CI's make test runs.)
LEASE_LIFE_S = 30.0
_KEEP = 100_000  # callers remembered at once (each a few hundred bytes)


@dataclass(slots=True)
class Held:
    limit: int
    left: int  # charged to Redis, not yet spent
    remaining: int  # what Redis said was left once it was charged
    reset_s: float
    at: float  # charged


@dataclass(frozen=True, slots=True)
class Spent:
    """A request paid from a lease: what its headers say."""

    remaining: int
    reset_s: float


class Leases:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._held: TTLCache[str, Held] = TTLCache(_KEEP, LEASE_LIFE_S, clock)
        # caller -> (the second, requests in it, requests in the second before)
        self._pace: TTLCache[str, tuple[int, int, int]] = TTLCache(_KEEP, 2 * LEASE_S, clock)
        # callers with no room for a lease: charged one by one for a while (a caller past its
        # limit costs one round trip a request, not two)
        self._edge: TTLCache[str, bool] = TTLCache(_KEEP, LEASE_S, clock)

    def spend(self, identity: str, limit: int, now: float) -> Spent | None:
        """Count the request; pay it from the caller's lease if one holds any (None: charge
        it to Redis)."""
        self._count(identity, now)
        held = self._held.get(identity)
        if held is None or held.limit != limit or held.left <= 0:
            return None
        held.left -= 1
        return Spent(held.remaining + held.left, held.reset_s - (now - held.at))

    def size(self, identity: str, limit: int) -> int:
        """How many to charge for this request: the caller's last second's worth, capped."""
        if identity in self._edge:
            return 1
        _second, this, last = self._pace.get(identity, (0, 0, 0))
        return max(1, min(limit // LEASE_SHARE, max(this, last)))

    def hold(
        self, identity: str, limit: int, left: int, remaining: int, reset_s: float, now: float
    ) -> None:
        """A lease was charged: `left` of it to spend here; `remaining` after it in Redis."""
        old = self._held.get(identity)
        if old is not None and old.limit == limit:
            left += old.left  # two taken at once (concurrent requests): neither is lost
        self._held[identity] = Held(limit, left, remaining, reset_s, now)

    def near_limit(self, identity: str) -> None:
        """Redis had no room for a whole lease: one by one for LEASE_S."""
        self._edge[identity] = True

    def _count(self, identity: str, now: float) -> None:
        second = int(now)
        was, this, last = self._pace.get(identity, (second, 0, 0))
        if second == was:
            self._pace[identity] = (second, this + 1, last)
        else:
            self._pace[identity] = (second, 1, this if second == was + 1 else 0)
