"""The rate limiter's pure parts: decisions and their headers, whom a request is counted
against, the Redis key of an identity, and standing aside when Redis fails."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.datastructures import State

from core.settings import Settings
from http_api.rate_local import LocalLimits
from http_api.ratelimit import (
    STAND_ASIDE_S,
    Decision,
    RateLimiter,
    bearer,
    client_address,
    decision,
    has_credentials,
    limit_key,
    window_state,
)


def _scope(
    headers: dict[str, str] | None = None, query: str = "", client: str | None = "203.0.113.9"
) -> dict[str, Any]:
    return {
        "type": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "query_string": query.encode(),
        "client": (client, 5555) if client is not None else None,
    }


def test_a_decision_tells_its_quota_in_the_draft_headers() -> None:
    allowed = decision(True, 1000, 999, 59.2)
    assert allowed.headers() == {
        "RateLimit-Limit": "1000",
        "RateLimit-Remaining": "999",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "1000;w=60",
    }


def test_a_refusal_asks_to_wait_at_least_a_second_and_never_shows_a_negative() -> None:
    refused = decision(False, 1000, -3, -0.5)
    assert (refused.remaining, refused.reset_s, refused.retry_after_s) == (0, 0, 1)
    assert decision(False, 5, 0, 12.01).retry_after_s == 13
    assert decision(True, 5, 9, 1).remaining == 5  # never more than the limit


def test_a_fresh_window_refills_when_it_ends_not_now() -> None:
    # The first request of a window: its key lives two windows (120 s) from now.
    assert window_state(5, 0, 0.0, 1, 120.0) == (4, 60.0)
    assert window_state(5, 0, 0.0, 3, 100.0) == (2, 40.0)
    assert window_state(5, 0, 0.0, 0, 0.0) == (5, 0.0)  # nothing counted yet


def test_a_full_window_refills_once_it_has_faded_enough() -> None:
    # The current window alone is full: a request is allowed right after it ends.
    assert window_state(1000, 0, 0.0, 1000, 100.0) == (0, 40.0)
    # Over-full (the limit was lowered): after it ends, until 1,200 fades below 1,000.
    remaining, wait = window_state(1000, 0, 0.0, 1200, 100.0)
    assert remaining == 0 and wait == 40.0 + 60 * (1 - 1000 / 1200)
    # The previous window's fading count fills it: 600 * t / 60 must fall below 1000 - 500.
    remaining, wait = window_state(1000, 600, 54.0, 500, 114.0)
    assert remaining == 0 and abs(wait - (54.0 - 50.0)) < 1e-9
    assert window_state(1000, 600, 30.0, 500, 90.0) == (200, 30.0)


def test_no_identity_text_reaches_redis_and_each_identity_has_its_own_key() -> None:
    secret_looking = "key:vq_live_abcdef0123456789"
    key = limit_key(secret_looking)
    assert key.startswith("key/") and "vq_live" not in key and "abcdef" not in key
    assert limit_key(secret_looking) == key
    assert limit_key("key:other") != key
    assert limit_key("user:42").startswith("user/")
    assert limit_key("no-kind").startswith("id/")
    assert "/" not in key.removeprefix("key/")


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", False),
        ({"Authorization": "Bearer vq_x"}, "", True),
        ({"Authorization": "  "}, "", False),
        ({}, "access_token=vq_x", True),
        ({}, "access_token=", False),
        ({}, "token=vq_x&a=1", False),
        ({}, "a=1&access_token=eyJ.x.y", True),
    ],
)
def test_credentials_are_a_bearer_header_or_an_access_token_query(
    headers: dict[str, str], query: str, expected: bool
) -> None:
    assert has_credentials(_scope(headers, query)) is expected


def test_the_forwarded_address_counts_only_when_the_proxy_is_trusted() -> None:
    forwarded = {"X-Forwarded-For": "198.51.100.7, 192.0.2.44"}
    assert client_address(_scope(forwarded), trust_forwarded_for=False) == "203.0.113.9"
    # The last hop is what the operator's proxy saw; the first, the client wrote itself.
    assert client_address(_scope(forwarded), trust_forwarded_for=True) == "192.0.2.44"
    assert client_address(_scope(), trust_forwarded_for=True) == "203.0.113.9"
    assert client_address(_scope({"X-Forwarded-For": " , "}), True) == "203.0.113.9"


def test_ipv6_clients_are_counted_per_64_block_and_mapped_ipv4_as_ipv4() -> None:
    one = client_address(_scope(client="2001:db8:1:2::10"), False)
    other = client_address(_scope(client="2001:db8:1:2:ffff::1"), False)
    assert one == other == "2001:db8:1:2::/64"
    assert client_address(_scope(client="2001:db8:1:3::10"), False) != one
    assert client_address(_scope(client="::ffff:192.0.2.1"), False) == "192.0.2.1"
    assert client_address(_scope(client=None), False) == "unknown"
    assert client_address(_scope(client="not-an-ip"), False) == "not-an-ip"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_after_a_failure_redis_is_left_alone_and_the_warning_comes_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    state = State()
    # A Redis client no request may touch while the limiter stands aside.
    state.services = SimpleNamespace(redis=SimpleNamespace())
    limiter = RateLimiter(Settings(env="dev"), state, clock)
    with caplog.at_level(logging.WARNING, logger="vq.api"):
        limiter.stand_aside(ConnectionError("refused"))
        # Counted here meanwhile (a fixed minute from the first request), never unlimited.
        alone = [await limiter.decide("key:a", 2) for _ in range(3)]
        assert [d is not None and d.allowed for d in alone] == [True, True, False]
        assert alone[2] is not None and alone[2].retry_after_s == 60
        clock.now += STAND_ASIDE_S + 1
        limiter.stand_aside(ConnectionError("refused again"))
        clock.now += 61
        limiter.stand_aside(ConnectionError("still refused"))
    warnings = [r.getMessage() for r in caplog.records if r.name == "vq.api"]
    assert len(warnings) == 2
    assert "refused" in warnings[0] and "still refused" in warnings[1]


async def test_before_the_app_started_there_is_nothing_to_limit_with() -> None:
    assert await RateLimiter(Settings(env="dev"), State()).decide("ip:192.0.2.1", 10) is None


def test_an_address_over_its_limit_is_refused_here_until_its_wait_is_over() -> None:
    clock = _Clock()
    limiter = RateLimiter(Settings(env="dev"), State(), clock)
    assert limiter.blocked_for("192.0.2.1") == 0
    limiter.block("192.0.2.1", decision(False, 10, 0, 7.5))
    assert limiter.blocked_for("192.0.2.1") == 8
    assert limiter.blocked_for("192.0.2.2") == 0
    clock.now += 8
    assert limiter.blocked_for("192.0.2.1") == 0


def test_counting_alone_starts_a_callers_minute_at_its_first_request() -> None:
    clock = _Clock()
    local = LocalLimits(clock)

    def decided(identity: str) -> Decision:
        return decision(*local.decide(identity, 2))

    assert [decided("key:a").allowed for _ in range(3)] == [True, True, False]
    assert decided("key:b").allowed  # each caller on its own
    clock.now += 59
    assert decided("key:a").retry_after_s == 1
    clock.now += 1
    renewed = decided("key:a")
    assert renewed.allowed and renewed.remaining == 1


def test_the_secret_a_request_authenticates_with() -> None:
    assert bearer(_scope({"Authorization": "Bearer vq_a"})) == "vq_a"
    assert bearer(_scope({"Authorization": "bearer vq_a"}, query="access_token=vq_b")) == "vq_a"
    assert bearer(_scope(query="x=1&access_token=eyJ.a.b")) == "eyJ.a.b"  # an EventSource's
    assert bearer(_scope({"Authorization": "Basic dTpw"})) is None
    assert bearer(_scope(query="access_token=")) is None
