"""Per-client rate limits (key, user or address) on Redis, with 429 + Retry-After and RateLimit-*
headers. STUB (issue 20): `install` is called by vq/api.py; the limiter is being written."""

from __future__ import annotations

from fastapi import FastAPI

from core.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Add the rate-limit middleware to `app`."""
