"""The organisation's access settings: MFA per role, rate limit, CORS origins."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
