"""Which Redis errors are a 503 `ReadModelUnavailable` on the read side: a Redis that cannot
serve now (down, full, busy with a script, loading, a replica), never a mistake of ours. The
errors are made by redis-py's own reply parser, from the replies Redis sends."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from projections.unavailable import ReadModelUnavailable, cannot_serve, redis_errors

NOT_NOW = [
    "OOM command not allowed when used memory > 'maxmemory'.",
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    "LOADING Redis is loading the dataset in memory",
    "READONLY You can't write against a read only replica.",
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist",
    "NOREPLICAS Not enough good replicas to write.",
]
OURS = [
    "ERR unknown command 'NOPE', with args beginning with: ",
    "WRONGTYPE Operation against a key holding the wrong kind of value",
    "NOSCRIPT No matching script. Please use EVAL.",
]


def reply(text: str) -> RedisError:
    error: RedisError = BaseParser.parse_error(text)  # type: ignore[no-untyped-call]
    return error


def in_pipeline(error: RedisError) -> RedisError:
    """What redis-py raises from a pipeline: the same error, its text prefixed."""
    error.args = (f"Command # 1 (HMGET k version view) of pipeline caused error: {error}",)
    return error


@pytest.mark.parametrize("text", NOT_NOW)
async def test_a_redis_that_cannot_serve_now_is_unavailable(text: str) -> None:
    for error in (reply(text), in_pipeline(reply(text))):
        assert cannot_serve(error), text
        with pytest.raises(ReadModelUnavailable) as raised:
            async with redis_errors():
                raise error
        assert raised.value.__cause__ is error
        assert text.split()[0] in str(raised.value)  # the log names the code


async def test_a_lost_connection_is_unavailable() -> None:
    for error in (RedisConnectionError("Connection refused"), ConnectionRefusedError(111, "no")):
        with pytest.raises(ReadModelUnavailable):
            async with redis_errors():
                raise error


@pytest.mark.parametrize("text", OURS)
async def test_our_own_mistakes_stay_errors(text: str) -> None:
    error = reply(text)
    assert isinstance(error, ResponseError)
    assert not cannot_serve(error)
    with pytest.raises(ResponseError) as raised:
        async with redis_errors():
            raise error
    assert raised.value is error
