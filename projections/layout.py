"""Where every read model lives in Redis. Every key starts with the prefix and the tenant id
(other keys under the prefix, such as access's deny-list and rate limits, are not read models).

{p}:{tenant}:queues                   ZSET  queue ids, scored by creation time (epoch seconds)
{p}:{tenant}:q:{queue}                HASH  version (last applied stream version), view (JSON)
{p}:{tenant}:q:{queue}:line           ZSET  the waiting line: every score 0, members ordered
                                            lexicographically by `line_member`, so a ticket's
                                            position is ZRANK + 1, O(log n)
{p}:{tenant}:q:{queue}:tickets        SET   ticket ids that have a view under this queue
{p}:{tenant}:q:{queue}:t:{ticket}     STRING the ticket's view (JSON) in that queue
{p}:{tenant}:t:{ticket}               STRING the queue the ticket first joined (transfers are
                                            followed from there through `transferred_to`)
{p}:{tenant}:q:{queue}:eta            HASH  ticket id -> its current wait range (JSON, moments;
                                            see estimates.py), and `newcomer` -> the range
                                            the queue summary shows
{p}:{tenant}:q:{queue}:accuracy       STRING the estimators' accuracy figures (JSON)
{p}:{tenant}:q:{queue}:changes        pub/sub channel: one message per applied batch
{p}:{tenant}:q:{queue}:recent         LIST  the last batches' changes (JSON, compact), written
                                            with each batch: a follower that reconnects
                                            replays what it missed (replay.py)
{p}:{tenant}:q:{queue}:an             ZSET  analytics buckets (start, epoch seconds)
{p}:{tenant}:q:{queue}:an:{bucket}    HASH  counts of the 15-minute bucket (see analytics.py)
{p}:{tenant}:q:{queue}:an:{bucket}:wait|service  LIST  samples in milliseconds
"""

from __future__ import annotations

from dataclasses import dataclass

# A tenant id, as a SCAN (glob) pattern.
_UUID = "-".join("?" * n for n in (8, 4, 4, 4, 12))


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def queues(self, tenant: str) -> str:
        return f"{self.prefix}:{tenant}:queues"

    def queue(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}"

    def line(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:line"

    def ticket_index(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:tickets"

    def ticket(self, tenant: str, queue: str, ticket: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:t:{ticket}"

    def ticket_prefix(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:t:"

    def home(self, tenant: str, ticket: str) -> str:
        return f"{self.prefix}:{tenant}:t:{ticket}"

    def eta(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:eta"

    def accuracy(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:accuracy"

    def changes(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:changes"

    def recent(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:recent"

    def analytics_index(self, tenant: str, queue: str) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:an"

    def analytics(self, tenant: str, queue: str, bucket: int) -> str:
        return f"{self.prefix}:{tenant}:q:{queue}:an:{bucket}"

    def resync(self, run_id: str) -> str:
        """Taken by the worker that checks the read models after Redis (run `run_id`) started."""
        return f"{self.prefix}:resync:{run_id}"

    def all_keys(self) -> str:
        """A SCAN pattern matching every read model key under this prefix: those of a tenant (a
        UUID). Others share the prefix and are not read models, so a wipe must spare them: the
        sign-out deny-list, sign-in counters, rate-limit windows (`{p}:access:...`,
        `{p}:ratelimit:...`)."""
        return f"{self.prefix}:{_UUID}:*"
