"""The HTTP floor: CPU per request of the API's own layers (middleware, routing, dependencies,
the error answer), in process, with no network and no load generator.

    python -m bench.http_floor [--included] [--calls] [--requests 3000]

Each request is sent straight to the ASGI app (its lifespan started, on the local stack) without
credentials, so it is answered 401 once routed: what every request pays before its route's work.
`--included` builds the app with its routers included the usual way (`app.include_router`)
instead of each route on the app's router (vq/api.py `_add_routes`), to compare the two.
Run each a few times, alternating: the figures move by a fifth from run to run on a small box.
`--calls` counts the Python function calls a request makes instead (cProfile): the same on every
run, so it tells a change apart from the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRouter

import vq.api
from core.settings import Settings
from vq.api import create_app

# Where each stands among the app's ~140 routes decides how many are tried before it.
PATHS = (
    ("POST", "/v1/queues/{id}/tickets"),  # the first router's
    ("GET", "/v1/tickets/{id}"),
    ("GET", "/v1/webhooks/endpoints"),
    ("GET", "/healthz"),  # after every router
)


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"vq.test")], "client": ("127.0.0.1", 40000),
        "server": ("vq.test", 80),
    }  # fmt: skip


async def measure(requests: int, calls: bool = False) -> list[tuple[str, int, float]]:
    """(method and path, status, microseconds of CPU per request) for each of PATHS; with
    `calls`, the Python function calls per request instead of the microseconds."""
    app = create_app(Settings(rate_limit_per_minute=1_000_000_000))
    out = []
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app):
        for method, template in PATHS:
            path = template.replace("{id}", str(uuid.uuid4()))
            for _ in range(requests // 10):  # warm
                await app(_scope(method, path), receive, send)
            profile = cProfile.Profile() if calls else None
            started = time.process_time()
            if profile is not None:
                profile.enable()
            for _ in range(requests):
                await app(_scope(method, path), receive, send)
            cpu = time.process_time() - started
            if profile is not None:
                profile.disable()
                counted = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
                out.append((f"{method} {template}", statuses[-1], counted / requests))
            else:
                out.append((f"{method} {template}", statuses[-1], 1e6 * cpu / requests))
    return out


def _included(app: FastAPI, router: APIRouter) -> None:
    app.include_router(router)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--included", action="store_true", help="routers included, not flat")
    parser.add_argument("--calls", action="store_true", help="count calls, not CPU")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    if args.included:
        vq.api._add_routes = _included
    print("routers " + ("included" if args.included else "flat (as served)"))
    unit = "Python calls" if args.calls else "us of CPU"
    for name, status, figure in asyncio.run(measure(args.requests, args.calls)):
        print(f"  {name:32s} {status}  {figure:7.1f} {unit} a request")


if __name__ == "__main__":
    main()
