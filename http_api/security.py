"""Security headers on every response and CORS per organisation. STUB (issue 20): `install` is
called by vq/api.py; the middleware is being written."""

from __future__ import annotations

from fastapi import FastAPI

from core.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Add the security-header and CORS middleware to `app`."""
