"""Sign-up, sign-in, refresh, sign-out, email verification, password reset, MFA."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
