"""Sealing a person's details with their own key, and finding them again: pure functions.

A ticket's details (name, phone, e-mail, a note) are JSON sealed with AES-256-GCM under a random
key made for that ticket; the associated data binds the ciphertext to its tenant and key id, so a
sealed value copied onto another ticket or tenant does not open. The key itself is kept in the key
store (privacy/keys.py), wrapped under the deployment's secret key, never in an event.

To find a person's tickets from what they tell us (an e-mail address, a phone number), the store
keeps a keyed digest (HMAC-SHA256 under a key derived from the deployment's secret) of each
normalised address: equal addresses meet, and the digest alone names nobody.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.events import PersonalData

KEY_BYTES = 32
NONCE_BYTES = 12
_LOOKUP_LABEL = b"vq/privacy/lookup/v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class Details:
    """What a person told us about themselves, in the clear: only ever in memory."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    note: str | None = None

    def __repr__(self) -> str:  # never in a log or a traceback by accident
        given = [name for name, value in asdict(self).items() if value]
        return f"Details(<{', '.join(given) or 'nothing'} given>)"

    def empty(self) -> bool:
        return not (self.name or self.phone or self.email or self.note)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _associated(tenant_id: str, key_id: str) -> bytes:
    return f"vq/personal/v1|{tenant_id}|{key_id}".encode()


def seal(key: bytes, tenant_id: str, key_id: str, details: Details) -> PersonalData:
    plain = json.dumps(asdict(details), separators=(",", ":"), ensure_ascii=False).encode()
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(key).encrypt(nonce, plain, _associated(tenant_id, key_id))
    return PersonalData(key_id=key_id, sealed=base64.b64encode(sealed).decode("ascii"))


def open_sealed(key: bytes, tenant_id: str, data: PersonalData) -> Details:
    """The details `seal` sealed; ValueError when the value was altered, belongs to another
    tenant or key, or `key` is not its key."""
    try:
        raw = base64.b64decode(data.sealed, validate=True)
        plain = AESGCM(key).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _associated(tenant_id, data.key_id)
        )
        fields = json.loads(plain)
        return Details(**{name: fields.get(name) for name in ("name", "phone", "email", "note")})
    except (InvalidTag, binascii.Error, ValueError, TypeError) as exc:
        raise ValueError("cannot open this personal data with this key") from exc


def normal_email(value: str) -> str:
    return value.strip().lower()


def normal_phone(value: str) -> str:
    """Digits only, with the leading + if there was one: '+49 (30) 123-45' -> '+493012345'."""
    stripped = value.strip()
    digits = re.sub(r"[^0-9]", "", stripped)
    return ("+" if stripped.startswith("+") else "") + digits


def _lookup_key(secret_key: str) -> bytes:
    if not secret_key:
        raise ValueError("no secret key to make lookup digests with")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LOOKUP_LABEL).derive(
        secret_key.encode("utf-8")
    )


def digest(secret_key: str, tenant_id: str, kind: str, value: str) -> bytes:
    """The keyed digest of a normalised address (`kind` 'email' or 'phone') in one tenant."""
    normal = normal_email(value) if kind == "email" else normal_phone(value)
    message = f"{tenant_id}|{kind}|{normal}".encode()
    return hmac.new(_lookup_key(secret_key), message, hashlib.sha256).digest()


def digests(secret_key: str, tenant_id: str, details: Details) -> list[bytes]:
    found = []
    if details.email:
        found.append(digest(secret_key, tenant_id, "email", details.email))
    if details.phone:
        found.append(digest(secret_key, tenant_id, "phone", details.phone))
    return found
