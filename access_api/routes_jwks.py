"""The public keys access tokens are verified with (JWKS)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
