"""Ticket tokens: what a QR code on a printed ticket carries to follow that one ticket.

A token is an HMAC of the ticket id under the deployment's secret, so it needs no storage, cannot be
guessed, and any replica (command or query side) can check it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def ticket_token(secret: str, ticket_id: str) -> str:
    mac = hmac.new(secret.encode(), b"ticket:" + ticket_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def token_matches(secret: str, ticket_id: str, token: str) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a 500 for a fuzzed token).
    return hmac.compare_digest(ticket_token(secret, ticket_id).encode(), token.encode())
