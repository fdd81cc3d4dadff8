"""Two-factor authentication of the signed-in person: TOTP enrolment (QR code), confirmation,
recovery codes, removal."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
