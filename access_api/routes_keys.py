"""API keys: make (with scopes and expiry), list (with last use), rotate, revoke."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
