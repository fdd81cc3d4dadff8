"""People of the organisation: invite, list, roles and queue assignments, deactivate; the caller's own profile."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
