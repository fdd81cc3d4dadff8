"""The app's routes sit straight on its router (vq/api.py `_add_routes`, for the CPU of every
request), and that changes nothing a caller can see: the OpenAPI document is the one the same
routers give when included the usual way, and every route is matched in the routers' order."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRouter

import vq.api
from core.settings import Settings
from vq.api import ROUTERS, create_app


def _included(app: FastAPI, router: APIRouter) -> None:
    app.include_router(router)


def test_the_document_is_the_one_included_routers_give(monkeypatch: pytest.MonkeyPatch) -> None:
    flat = create_app(Settings()).openapi()
    monkeypatch.setattr(vq.api, "_add_routes", _included)
    included = create_app(Settings()).openapi()
    assert len(flat["paths"]) > 100
    assert flat == included
    # Stopping messages was a router included in the subscriptions' one, under its tag.
    assert flat["paths"]["/v1/sms/inbound"]["post"]["tags"] == ["notifications: subscriptions"]


def test_every_route_is_on_the_apps_router_in_the_routers_order() -> None:
    app = create_app(Settings())
    listed = [route for router in ROUTERS for route in router.routes]
    assert app.router.routes[-len(listed) - 1 : -1] == listed  # then the operations' router
    assert all(type(route).__name__ != "_IncludedRouter" for route in listed)
