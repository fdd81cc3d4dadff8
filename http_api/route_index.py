"""The app's routes found through an index of their paths' first two segments, instead of asked
one after another whether they match.

Starlette and FastAPI find a request's route by trying every route in order until one matches:
about 140 here, so a request for `/v1/webhooks/...` asks some hundred routes first (a regular
expression and a few dictionary reads each: about a fifth of a request's CPU before its route's
work, `python -m bench.http_floor`). A route whose path begins with two literal segments
(`/v1/queues/{queue_id}/tickets`: `v1`, `queues`) can only match paths that begin with the same
two; the index keeps, for each such pair, those routes and the ones that could match anything
(a parameter among the first two segments, a mount, an included router), in the app's order.
So the first route to match among a request's candidates is the first among all routes, and a
method that only partly matches (a 405) is found the same way. When none of them matches, the
router walks every route as it always did (a redirect to the other trailing slash, a 404):
nothing is answered differently, only sooner (tests/unit/http_api/test_route_index.py).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

# What FastAPI's router does with the route it chose: its own helpers, not a public API (0.165).
# A FastAPI without them (pyproject.toml allows any 0.x) serves with its own router, unindexed;
# tests/unit/http_api/test_route_index.py fails then, to say so.
try:
    from fastapi.routing import _update_scope
    from fastapi.telemetry._api import _route_selected

    _FASTAPI_HELPERS = True
except ImportError:  # pragma: no cover - another FastAPI
    _FASTAPI_HELPERS = False
    _update_scope: Any = None  # type: ignore[no-redef]
    _route_selected: Any = None  # type: ignore[no-redef]

log = logging.getLogger("vq.api")

_Key = tuple[str, ...]


def path_key(path: str) -> _Key:
    """A path's first two segments: `/v1/queues/q1` -> (v1, queues), `/healthz` -> (healthz,)."""
    return tuple(path.split("/", 3)[1:3])


def literal_key(route: BaseRoute) -> _Key | None:
    """The key of every path `route` can match, or None when it may match paths of any key."""
    if not isinstance(route, Route | WebSocketRoute):
        return None
    key = path_key(route.path)
    return None if any("{" in part for part in key) else key


class _Index:
    def __init__(self, routes: list[BaseRoute], version: int) -> None:
        self.routes, self.size, self.version = routes, len(routes), version
        keys = [literal_key(route) for route in routes]
        self.anywhere = [route for route, key in zip(routes, keys, strict=True) if key is None]
        self.by_key = {
            key: [r for r, k in zip(routes, keys, strict=True) if k is None or k == key]
            for key in {k for k in keys if k is not None}
        }

    def fits(self, routes: list[BaseRoute], version: int) -> bool:
        return routes is self.routes and len(routes) == self.size and version == self.version


class IndexedRouter(APIRouter):
    """FastAPI's router, matching among a request's candidate routes first (see the module)."""

    _index: _Index | None = None

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that may match `path`, in the router's order (built again whenever the
        routes change)."""
        version = getattr(self, "_routes_version", 0)
        index = self._index
        if index is None or not index.fits(self.routes, version):
            index = self._index = _Index(self.routes, version)
        return index.by_key.get(path_key(path), index.anywhere)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or self.form_limits:
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                await _handle(route, child_scope, scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:
            await _handle(*partial, scope, receive, send)
            return
        await super().app(scope, receive, send)  # no route: redirect or 404, as always


async def _handle(
    route: BaseRoute, child_scope: Scope, scope: Scope, receive: Receive, send: Send
) -> None:
    """What FastAPI's router does with the route it chose (0.165: `APIRouter.app`)."""
    _update_scope(scope, child_scope)
    _route_selected(
        scope=scope, path=getattr(route, "path_format", None), mount=isinstance(route, Mount)
    )
    await route.handle(scope, receive, send)


def index_routes(app: FastAPI) -> None:
    """Make the app's router an indexed one (its routes, settings and lifespan unchanged)."""
    if not _FASTAPI_HELPERS:
        log.warning("this FastAPI lacks the helpers the route index uses: routes matched in turn")
        return
    router = app.router
    # Starlette's router calls `middleware_stack`: its own `app` as bound when it was made
    # (a router of no middleware of its own, as the app's is), bound again to the new class.
    if router.middleware_stack != router.app:
        raise ValueError("a router with middleware of its own would not use the index")
    router.__class__ = IndexedRouter
    router.middleware_stack = router.app
