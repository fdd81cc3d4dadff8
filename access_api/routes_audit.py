"""The audit trail: GET /v1/audit (filters, paging, CSV)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
