"""ASGI entry point for uvicorn: `uvicorn command_api.main:app` (settings from the environment)."""

from __future__ import annotations

from fastapi import FastAPI

from command_api.app import create_app
from vq.settings import get_settings


def app_factory() -> FastAPI:
    return create_app(get_settings())
