"""Secrets the database keeps but must not be able to use alone (token-signing keys, TOTP
secrets, single sign-on client secrets): sealed with the deployment's `secret_key`.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`), its key derived from `secret_key` by
HKDF-SHA256 under a fixed label, so the secret itself is never used as a key and a copy of the
database without the settings opens nothing. Tampering or another `secret_key` is a ValueError.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Changing the label (or the secret) makes everything sealed before unreadable.
_LABEL = b"vq/access/sealed/v1"


def _fernet(secret_key: str) -> Fernet:
    if not secret_key:
        raise ValueError("no secret key to seal with")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key: str, data: bytes) -> bytes:
    """`data`, encrypted and authenticated under `secret_key` (a Fernet token, ASCII bytes)."""
    return _fernet(secret_key).encrypt(data)


def unseal(secret_key: str, sealed: bytes) -> bytes:
    """What `seal` sealed; ValueError when it was altered or sealed under another key."""
    fernet = _fernet(secret_key)
    try:
        return fernet.decrypt(bytes(sealed))
    except (InvalidToken, TypeError, ValueError):
        raise ValueError("cannot unseal: altered, or sealed under another secret key") from None
