"""Single sign-on (OpenID Connect) per organisation: its settings, the sign-in redirect and callback."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
