"""A Redis that cannot serve now, met where no code turned it into its 503 (a backstop under
`projections.unavailable.redis_errors`): the same 503 problem with Retry-After, not a 500; any
other Redis error stays a 500 (it is a bug of ours)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from redis.exceptions import BusyLoadingError, OutOfMemoryError, ResponseError

from http_api.errors import install_error_handlers


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/read")
    async def read() -> None:
        raise error

    return app


async def get(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://vq") as http:
        return await http.get("/read")


@pytest.mark.parametrize(
    "error",
    [
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        BusyLoadingError("Redis is loading the dataset in memory"),
        ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's failing"),
    ],
)
async def test_a_redis_that_cannot_serve_now_is_a_503_with_retry_after(error: Exception) -> None:
    answer = await get(app_raising(error))
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert int(answer.headers["retry-after"]) > 0
    assert answer.json()["type"] == "/problems/service-unavailable"
    assert "maxmemory" not in answer.text and "RDB" not in answer.text  # Redis' words: the log's


async def test_any_other_redis_error_is_ours_a_500() -> None:
    answer = await get(app_raising(ResponseError("ERR unknown command 'HGETX'")))
    assert answer.status_code == 500
    assert answer.json()["type"] == "/problems/internal"
