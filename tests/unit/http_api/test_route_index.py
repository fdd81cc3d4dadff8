"""The router's index (http_api/route_index.py) chooses the route that trying every route in
order chooses: for every route's path (its parameters filled in), each method, a websocket, the
other trailing slash, one segment more, and paths no route has."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Match

from core.settings import Settings
from http_api.route_index import IndexedRouter, index_routes, literal_key, path_key
from observability.http_metrics import _leaves  # the routes, those of included routers too
from vq.api import create_app

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
_SAMPLES = {
    "path": "a/b",
    "int": "7",
    "float": "1.5",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
}


def _filled(path: str) -> str:
    return _PARAM.sub(lambda m: _SAMPLES.get(m.group(2) or "", "x1"), path)


def _scope(kind: str, path: str, method: str = "GET") -> dict[str, Any]:
    scope: dict[str, Any] = {"type": kind, "path": path, "root_path": "", "headers": []}
    if kind == "http":
        scope["method"] = method
    return scope


def _chosen(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[BaseRoute | None, Match]:
    """What the router hands the request to: the first full match, else the first partial."""
    partial = None
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return route, match
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial, Match.PARTIAL if partial is not None else Match.NONE


def _indexed(app: FastAPI) -> IndexedRouter:
    assert isinstance(app.router, IndexedRouter)
    return app.router


def test_the_index_chooses_what_trying_every_route_chooses() -> None:
    app = create_app(Settings())
    router = _indexed(app)
    routes = list(router.routes)
    paths = {_filled(getattr(leaf, "path", "/")) for leaf in _leaves(app.router.routes)}
    paths |= {p + "/" for p in paths} | {p.rstrip("/") + "/more" for p in paths}
    paths |= {"/", "", "/v1", "/v1/", "/nope", "/v1/nope/x", "/v1/queues//tickets", "//v1"}
    found = 0
    for path in sorted(paths):
        scopes = [_scope("http", path, m) for m in METHODS] + [_scope("websocket", path)]
        for scope in scopes:
            expected = _chosen(routes, scope)
            assert _chosen(router.candidates(path), scope) == expected, (path, scope.get("method"))
            found += expected[1] is Match.FULL
    assert found > 150  # the test asked real routes, not only misses
    # A path of a literal key is asked of far fewer routes than the whole list.
    assert len(router.candidates("/v1/webhooks/endpoints")) < len(routes) / 4


def test_a_route_of_any_key_listed_first_is_still_chosen_first() -> None:
    app = FastAPI()
    inner = APIRouter()
    inner.add_api_route("/v1/items/{item}", lambda item: item, methods=["PUT"])
    app.include_router(inner)  # a router of its own: may match paths of any key
    app.add_api_route("/{anything}/items/{item}", lambda item: item, methods=["GET"])
    app.add_api_route("/v1/items/{item}", lambda item: item, methods=["GET", "DELETE"])
    index_routes(app)
    routes = list(app.router.routes)
    for method, index in (("PUT", -3), ("GET", -2), ("DELETE", -1)):
        scope = _scope("http", "/v1/items/7", method)
        assert _chosen(_indexed(app).candidates("/v1/items/7"), scope) == (
            routes[index],
            Match.FULL,
        )
    assert (
        _chosen(_indexed(app).candidates("/v1/items/7"), _scope("http", "/v1/items/7", "POST"))[1]
        is Match.PARTIAL
    )  # a 405, as without the index


def test_the_index_follows_routes_added_later() -> None:
    app = create_app(Settings())
    assert _indexed(app).candidates("/v1/late/x") == _indexed(app).candidates("/elsewhere")

    @app.get("/v1/late/{x}")
    def late(x: str) -> str:
        return x

    assert _indexed(app).candidates("/v1/late/x")[-1].path == "/v1/late/{x}"  # type: ignore[attr-defined]


def test_keys() -> None:
    assert path_key("/v1/queues/q1/tickets") == ("v1", "queues")
    assert path_key("/healthz") == ("healthz",)
    assert path_key("/") == ("",)
    app = create_app(Settings())
    by_path = {getattr(r, "path", None): r for r in app.router.routes}
    assert literal_key(by_path["/v1/queues/{queue_id}/ws"]) == ("v1", "queues")
    assert literal_key(by_path["/t/{ticket_id}"]) is None  # a parameter in the first two


def test_the_app_calls_the_indexed_router() -> None:
    app = create_app(Settings())
    assert app.router.middleware_stack.__func__ is IndexedRouter.app  # type: ignore[attr-defined]
    plain = FastAPI()
    index_routes(plain)
    assert isinstance(plain.router, IndexedRouter)
