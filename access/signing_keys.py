"""The keys access tokens are signed with: ES256 (P-256) key pairs in PostgreSQL, private parts
sealed (access/sealed.py), and the in-process ring every API replica signs and verifies from.

A key's life: added and published (JWKS) at once; signs from `active_from`; retired at
`retired_at` (when the next key becomes active); verifies until every token it signed has
expired. A rotation publishes the next key `PUBLISH_AHEAD_S` before it signs, longer than a
replica trusts its cached ring, so no replica ever meets a token whose key it has not loaded, and
nobody is signed out by a rotation.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from access import audit_store
from access.sealed import seal, unseal
from core.errors import Unavailable
from core.settings import Settings
from eventstore.pool import pooled

log = logging.getLogger(__name__)

ALG = "ES256"
# Seconds of clock difference a token's `exp` and `iat` are given.
LEEWAY_S = 30
# A replica reloads its ring this often; a rotation publishes the next key longer ahead than that.
REFRESH_S = 30.0
PUBLISH_AHEAD_S = 45.0
# A token naming a kid the ring does not hold reloads it at most this often (bogus kids are cheap
# to send; PostgreSQL must not answer each one).
UNKNOWN_KID_REFETCH_S = 5.0
# After a failed reload, the ring keeps its keys and tries again this soon.
RETRY_S = 5.0
# Taken for a rotation (and for making the first key): replicas take turns.
_ROTATION_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':key-rotation', 0))"
)


class SigningUnavailable(Unavailable):
    """No key to sign with can be had now (PostgreSQL down, or the key cannot be unsealed)."""

    public_detail = "signing in is unavailable right now; retry later"


def verifies_for_s(settings: Settings) -> float:
    """How long after its retirement a key still verifies: its last tokens' lifetime, the leeway,
    and a margin for clocks that differ between replicas."""
    return settings.access_token_ttl_s + LEEWAY_S + 60.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The RFC 7517 form of a P-256 public key, with its thumbprint as `kid`."""
    numbers = public_key.public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    return {**jwk, "kid": thumbprint(jwk), "use": "sig", "alg": ALG}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, without whitespace; base64url."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return _b64(hashlib.sha256(canonical.encode("utf-8")).digest())


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    kid: str
    public_jwk: dict[str, str]
    public_key: ec.EllipticCurvePublicKey = field(repr=False)
    # None: the key could not be unsealed here (it still verifies).
    private_key: ec.EllipticCurvePrivateKey | None = field(repr=False)
    created_at: datetime
    active_from: datetime
    retired_at: datetime | None

    @classmethod
    def of(
        cls,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        created_at: datetime,
        active_from: datetime | None = None,
        retired_at: datetime | None = None,
    ) -> SigningKey:
        jwk = public_jwk(private_key.public_key())
        return cls(
            kid=jwk["kid"],
            public_jwk=jwk,
            public_key=private_key.public_key(),
            private_key=private_key,
            created_at=created_at,
            active_from=active_from or created_at,
            retired_at=retired_at,
        )

    def signs_at(self, at: datetime) -> bool:
        return self.active_from <= at and (self.retired_at is None or at < self.retired_at)

    def verifies_at(self, at: datetime, settings: Settings) -> bool:
        if self.retired_at is None:
            return True
        return at < self.retired_at + timedelta(seconds=verifies_for_s(settings))

    def state(self, at: datetime, settings: Settings) -> str:
        """next (published, not signing yet), current, retired (verifying) or expired."""
        if at < self.active_from and (self.retired_at is None or at < self.retired_at):
            return "next"
        if self.signs_at(at):
            return "current"
        return "retired" if self.verifies_at(at, settings) else "expired"


def current_key(keys: list[SigningKey], at: datetime) -> SigningKey | None:
    """The key that signs at `at`: the newest active one."""
    signing = [key for key in keys if key.signs_at(at)]
    return max(signing, key=lambda key: (key.active_from, key.created_at), default=None)


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# PostgreSQL.

_COLUMNS = "kid, public_jwk, private_key, created_at, active_from, retired_at"


def _row_key(row: tuple[Any, ...], settings: Settings) -> SigningKey:
    kid, jwk, sealed, created_at, active_from, retired_at = row
    private: ec.EllipticCurvePrivateKey | None = None
    try:
        loaded = serialization.load_pem_private_key(
            unseal(settings.secret_key, bytes(sealed)), password=None
        )
        private = loaded if isinstance(loaded, ec.EllipticCurvePrivateKey) else None
    except ValueError:
        log.warning(
            "signing key %s cannot be unsealed with this VQ_SECRET_KEY; it verifies but cannot "
            "sign (`vq signing-keys rotate --now` makes one this server can use)",
            kid,
        )
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(),
        b"\x04" + _unb64(jwk["x"]) + _unb64(jwk["y"]),
    )
    return SigningKey(
        kid=kid,
        public_jwk=dict(jwk),
        public_key=public,
        private_key=private,
        created_at=created_at,
        active_from=active_from,
        retired_at=retired_at,
    )


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def load_keys(
    pool: AsyncConnectionPool[Any], settings: Settings, *, everything: bool = False
) -> list[SigningKey]:
    """The keys that still verify (every stored key with `everything`), oldest first."""
    where = "" if everything else "WHERE retired_at IS NULL OR retired_at > now() - %s"
    args = () if everything else (timedelta(seconds=verifies_for_s(settings)),)
    async with pooled(pool) as conn:
        cur = await conn.execute(
            f"SELECT {_COLUMNS} FROM signing_keys {where} ORDER BY active_from, created_at", args
        )
        rows = await cur.fetchall()
    return [_row_key(tuple(row), settings) for row in rows]


async def _insert(
    conn: AsyncConnection[Any], settings: Settings, ahead_s: float
) -> tuple[str, datetime]:
    private = new_private_key()
    jwk = public_jwk(private.public_key())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cur = await conn.execute(
        """INSERT INTO signing_keys (kid, public_jwk, private_key, active_from)
           VALUES (%s, %s, %s, now() + %s) RETURNING active_from""",
        (jwk["kid"], Jsonb(jwk), seal(settings.secret_key, pem), timedelta(seconds=ahead_s)),
    )
    row = await cur.fetchone()
    assert row is not None  # an insert returns its row
    return jwk["kid"], row[0]


async def ensure_key(pool: AsyncConnectionPool[Any], settings: Settings) -> None:
    """Make the first key when there is none (replicas starting together make one between
    them)."""
    async with pooled(pool) as conn, conn.transaction():
        await conn.execute(_ROTATION_LOCK)
        cur = await conn.execute("SELECT 1 FROM signing_keys WHERE retired_at IS NULL LIMIT 1")
        if await cur.fetchone() is None:
            kid, _ = await _insert(conn, settings, 0.0)
            log.info("made the first access-token signing key %s", kid)


async def rotate_keys(
    pool: AsyncConnectionPool[Any],
    settings: Settings,
    *,
    ahead_s: float = PUBLISH_AHEAD_S,
    actor: str = "operator",
) -> tuple[str, datetime]:
    """Add the next key (signing `ahead_s` from now) and retire the open one then; forget the
    keys nothing verifies with any more. The new kid and when it signs."""
    ahead = timedelta(seconds=max(0.0, ahead_s))
    async with pooled(pool) as conn, conn.transaction():
        await conn.execute(_ROTATION_LOCK)
        await conn.execute(
            """UPDATE signing_keys SET retired_at = now() + %s
               WHERE retired_at IS NULL OR retired_at > now() + %s""",
            (ahead, ahead),
        )
        kid, active_from = await _insert(conn, settings, ahead.total_seconds())
        await conn.execute(
            "DELETE FROM signing_keys WHERE retired_at < now() - %s",
            (timedelta(seconds=verifies_for_s(settings)),),
        )
        await audit_store.append(
            conn,
            tenant_id=None,
            at=datetime.now(UTC),
            actor=actor,
            action="signing_key.rotated",
            subject=kid,
            detail={"active_from": active_from.isoformat()},
        )
    return kid, active_from


class KeyRing:
    """The keys of one process, reloaded every `REFRESH_S` (sooner for an unknown kid, at most
    every `UNKNOWN_KID_REFETCH_S`); while PostgreSQL cannot answer, the keys it has keep
    working."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        settings: Settings,
        *,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool, self._settings, self._timer = pool, settings, timer
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at: float | None = None
        self._missed_at = -UNKNOWN_KID_REFETCH_S
        self._lock = asyncio.Lock()

    async def signing_key(self) -> SigningKey:
        await self._fresh()
        key = current_key(list(self._keys.values()), _now())
        if key is None:
            await ensure_key(self._pool, self._settings)
            await self._reload(since=None)
            key = current_key(list(self._keys.values()), _now())
        if key is None or key.private_key is None:
            raise SigningUnavailable("no signing key this server can use")
        return key

    async def verification_key(self, kid: str) -> SigningKey | None:
        await self._fresh()
        key = self._keys.get(kid)
        if key is None and self._timer() - self._missed_at >= UNKNOWN_KID_REFETCH_S:
            self._missed_at = self._timer()
            await self._reload(since=self._loaded_at)
            key = self._keys.get(kid)
        if key is None or not key.verifies_at(_now(), self._settings):
            return None
        return key

    async def published(self) -> list[SigningKey]:
        await self._fresh()
        if not self._keys:
            await self.signing_key()  # the first key, so the JWKS is never empty
        now = _now()
        return [key for key in self._keys.values() if key.verifies_at(now, self._settings)]

    async def rotate(self, *, ahead_s: float = PUBLISH_AHEAD_S, actor: str = "operator") -> str:
        kid, _ = await rotate_keys(self._pool, self._settings, ahead_s=ahead_s, actor=actor)
        await self._reload(since=None)
        return kid

    async def _fresh(self) -> None:
        loaded = self._loaded_at
        if loaded is None or self._timer() - loaded >= REFRESH_S:
            await self._reload(since=loaded)

    async def _reload(self, *, since: float | None) -> None:
        """Reload, unless another task reloaded after `since` while this one waited."""
        async with self._lock:
            if since is not None and self._loaded_at is not None and self._loaded_at > since:
                return
            try:
                keys = await load_keys(self._pool, self._settings)
            except Unavailable:
                if not self._keys:
                    raise
                log.warning("cannot reload the signing keys; keeping the %d known", len(self._keys))
                self._loaded_at = self._timer() - REFRESH_S + RETRY_S
                return
            self._keys = {key.kid: key for key in keys}
            self._loaded_at = self._timer()


def _now() -> datetime:
    return datetime.now(UTC)
