"""Two-factor authentication: TOTP (RFC 6238) with recovery codes.

A person enrols by scanning a new secret (an `otpauth://` URI, as a QR code), pending until a
code from the app confirms it; then each sign-in needs a current code or one of ten recovery codes
(shown once, stored as keyed SHA-256 digests, each used once). A code's time step is accepted once
only (later steps only pass), so a code seen over a shoulder or in a log cannot be replayed. The
secret is sealed with the deployment's secret key (access/sealed.py): a copy of the database alone
opens nobody's second factor. Nothing here logs a secret or a code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pyotp
import segno
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from access.audit_store import append as audit
from access.sealed import seal, unseal
from core.settings import Settings
from eventstore.pool import pooled

ISSUER = "Virtual Queue"
DIGITS = 6
INTERVAL_S = 30
# Steps either side of the current one a code may come from (clock drift, a code typed late).
VALID_WINDOW = 1
RECOVERY_CODES = 10
# No 0/o, 1/l/i: a code copied from paper is read back without doubt. 31**8: about 40 bits.
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_TOTP_SHAPE = re.compile(rf"^[0-9]{{{DIGITS}}}$")
_RECOVERY_SHAPE = re.compile(rf"^[{RECOVERY_ALPHABET}]{{8}}$")
# Wrong codes in a row before the second factor is blocked for a while (see `block_for`).
MAX_FAILURES = 5
BLOCK = timedelta(minutes=5)
MAX_BLOCK = timedelta(hours=24)

Pool = AsyncConnectionPool[Any]
Conn = AsyncConnection[Any]
T = TypeVar("T")


class MfaError(Exception):
    """A second-factor request that cannot be done (the message is safe to show)."""


class UnknownPerson(MfaError):
    """No such person in this tenant."""


class AlreadyEnrolled(MfaError):
    """The person has a confirmed second factor already (remove it first)."""


class NotEnrolled(MfaError):
    """Nothing to confirm, remove or renew: no pending (or no confirmed) enrolment."""


class WrongCode(MfaError):
    """The code is not valid now, or was used already."""


class TooManyAttempts(MfaError):
    """Too many wrong codes in a row: no code is accepted for `retry_after_s`."""

    def __init__(self, until: datetime, at: datetime) -> None:
        super().__init__("too many wrong codes: wait before trying again")
        self.retry_after_s = max(1, int((until - at).total_seconds() + 0.999))


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A new, pending TOTP secret (base32, for typing in by hand), shown once; never in a log."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)
    qr_svg: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MfaStatus:
    enrolled: bool
    pending: bool
    recovery_codes_left: int
    enrolled_at: datetime | None


# Pure helpers.


def totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, digest=hashlib.sha1, interval=INTERVAL_S)


def normalise(code: str) -> str:
    """A code as typed ("123 456", "ABCD-EFGH") in its canonical form ("123456", "abcdefgh")."""
    return re.sub(r"[\s-]+", "", code).lower()


def match_totp(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to, within the window around `at` and after `last_step`
    (the last one accepted); None when it matches none of them."""
    if _TOTP_SHAPE.match(code) is None:
        return None
    otp, now = totp(secret), int(at.timestamp()) // INTERVAL_S
    found = None
    # Every candidate is compared (no early exit), in constant time.
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(otp.generate_otp(step), code):
            found = step if found is None else found
    return found


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """`count` distinct codes `xxxx-xxxx` from the system's CSPRNG."""
    codes: set[str] = set()
    while len(codes) < count:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(8))
        codes.add(f"{raw[:4]}-{raw[4:]}")
    return sorted(codes)


def recovery_digest(secret_key: str, user_id: str, code: str) -> bytes:
    """SHA-256 HMAC of a recovery code, keyed with the deployment's secret and bound to its owner:
    about 40 bits of code cannot be brute-forced from a database copy alone."""
    key = hashlib.sha256(b"vq mfa recovery codes\x00" + secret_key.encode()).digest()
    return hmac.new(key, f"{user_id}\x00{normalise(code)}".encode(), hashlib.sha256).digest()


def otpauth_uri(secret: str, email: str) -> str:
    return totp(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an inline SVG document (no XML declaration)."""
    return str(segno.make(uri, error="m", micro=False).svg_inline(scale=4, border=4))


@dataclass(frozen=True, slots=True)
class Person:
    """Whose second factor: a person of a tenant (UnknownPerson for ids that are not UUIDs)."""

    tenant_id: str
    user_id: str

    def __post_init__(self) -> None:
        try:
            uuid.UUID(self.tenant_id), uuid.UUID(self.user_id)
        except (ValueError, AttributeError, TypeError):
            raise UnknownPerson("no such person") from None

    @property
    def ids(self) -> tuple[str, str]:
        return self.tenant_id, self.user_id


def block_for(failures: int) -> timedelta | None:
    """How long `failures` wrong codes in a row block the factor: after every MAX_FAILURES, twice
    as long as before (capped), so even a thief with the password guesses 1 in 10**6 slowly."""
    if failures == 0 or failures % MAX_FAILURES:
        return None
    block: timedelta = BLOCK * 2 ** min(failures // MAX_FAILURES - 1, 16)
    return min(block, MAX_BLOCK)


async def mfa_enrolled(pool: Pool, tenant_id: str, user_id: str) -> bool:
    """Whether the person has a confirmed second factor."""
    try:
        return (await SecondFactors(pool, "").status(Person(tenant_id, user_id))).enrolled
    except UnknownPerson:
        return False


async def check_second_factor(
    pool: Pool,
    settings: Settings,
    tenant_id: str,
    user_id: str,
    code: str,
    *,
    now: datetime | None = None,
) -> bool:
    """Whether `code` (a current TOTP code or an unused recovery code) is the person's second
    factor; the code is consumed. False when the person has no confirmed second factor, and
    while wrong codes have blocked it (`block_for`)."""
    try:
        person = Person(tenant_id, user_id)
        at = now if now is not None else datetime.now(UTC)
        return await SecondFactors(pool, settings.secret_key).check(person, code, at=at)
    except (UnknownPerson, TooManyAttempts):
        return False


class SecondFactors:
    """People's second factors in PostgreSQL (migration 0011). Each method is one transaction;
    PostgreSQL failures are StoreUnavailable (a 503)."""

    def __init__(self, pool: Pool, secret_key: str) -> None:
        self._pool, self._key = pool, secret_key

    async def status(self, person: Person) -> MfaStatus:
        async with pooled(self._pool) as conn:
            row = await (
                await conn.execute(
                    """SELECT m.confirmed_at,
                              (SELECT count(*) FROM mfa_recovery_codes r
                                WHERE r.user_id = m.user_id AND r.used_at IS NULL)
                         FROM mfa_totp m WHERE m.tenant_id = %s AND m.user_id = %s""",
                    person.ids,
                )
            ).fetchone()
        confirmed_at, left = row or (None, 0)
        enrolled = confirmed_at is not None
        return MfaStatus(enrolled, row is not None and not enrolled, int(left), confirmed_at)

    async def check(self, person: Person, code: str, *, at: datetime) -> bool:
        """Check and consume a code (TooManyAttempts while blocked)."""
        async with pooled(self._pool) as conn, conn.transaction():
            return await self._consume(conn, person, code, at) is True

    async def enrol(self, person: Person, *, at: datetime) -> Enrolment:
        """A new pending secret, in place of a pending one (AlreadyEnrolled: one confirmed)."""
        secret = pyotp.random_base32()
        sealed = seal(self._key, secret.encode())
        async with pooled(self._pool) as conn, conn.transaction():
            found = await (
                await conn.execute(
                    "SELECT email FROM users WHERE tenant_id = %s AND user_id = %s", person.ids
                )
            ).fetchone()
            if found is None:
                raise UnknownPerson("no such person")
            cur = await conn.execute(
                """INSERT INTO mfa_totp (user_id, tenant_id, sealed_secret, created_at)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (user_id) DO UPDATE
                      SET sealed_secret = EXCLUDED.sealed_secret,
                          created_at = EXCLUDED.created_at, last_step = NULL
                    WHERE mfa_totp.confirmed_at IS NULL""",
                (person.user_id, person.tenant_id, sealed, at),
            )
            if cur.rowcount == 0:
                raise AlreadyEnrolled("a second factor is enrolled already; remove it first")
        uri = otpauth_uri(secret, str(found[0]))
        return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))

    async def confirm(self, person: Person, code: str, *, actor: str, at: datetime) -> list[str]:
        """Confirm the pending secret with a code from the app: the recovery codes, shown once."""
        async with pooled(self._pool) as conn, conn.transaction():
            row = await (
                await conn.execute(
                    """SELECT sealed_secret, confirmed_at FROM mfa_totp
                        WHERE tenant_id = %s AND user_id = %s FOR UPDATE""",
                    person.ids,
                )
            ).fetchone()
            if row is None:
                raise NotEnrolled("no enrolment is pending: start one first")
            if row[1] is not None:
                raise AlreadyEnrolled("the second factor is confirmed already")
            step = match_totp(self._secret(row[0]), normalise(code), at, None)
            if step is None:
                raise WrongCode("the code does not match: check the app's clock, use a new code")
            await conn.execute(
                "UPDATE mfa_totp SET confirmed_at = %s, last_step = %s WHERE user_id = %s",
                (at, step, person.user_id),
            )
            codes = await self._replace_recovery_codes(conn, person, at)
            await _audit(conn, person, actor, "mfa.enrolled", at)
        return codes

    async def disable(self, person: Person, code: str, *, actor: str, at: datetime) -> None:
        """Remove the second factor and its recovery codes, given a current or recovery code."""

        async def remove(conn: Conn) -> None:
            await conn.execute("DELETE FROM mfa_totp WHERE user_id = %s", (person.user_id,))
            await _audit(conn, person, actor, "mfa.disabled", at)

        await self._with_code(person, code, at, remove)

    async def reset(self, person: Person, *, actor: str, at: datetime) -> bool:
        """An admin's removal of a person's factor (app and recovery codes lost); False: none."""
        async with pooled(self._pool) as conn, conn.transaction():
            cur = await conn.execute(
                "DELETE FROM mfa_totp WHERE tenant_id = %s AND user_id = %s", person.ids
            )
            if cur.rowcount:
                await _audit(conn, person, actor, "mfa.reset", at)
        return cur.rowcount > 0

    async def regenerate_recovery_codes(
        self, person: Person, code: str, *, actor: str, at: datetime
    ) -> list[str]:
        """Ten new recovery codes in place of the old ones, given a current or recovery code."""

        async def renew(conn: Conn) -> list[str]:
            codes = await self._replace_recovery_codes(conn, person, at)
            await _audit(conn, person, actor, "mfa.recovery_regenerated", at)
            return codes

        return await self._with_code(person, code, at, renew)

    async def _with_code(
        self, person: Person, code: str, at: datetime, change: Callable[[Conn], Awaitable[T]]
    ) -> T:
        """`change`, made in the transaction that consumes a valid code. A wrong code's count
        commits too: WrongCode is raised after the transaction."""
        async with pooled(self._pool) as conn, conn.transaction():
            ok = await self._consume(conn, person, code, at)
            if ok is None:
                raise NotEnrolled("no second factor is enrolled")
            if ok:
                return await change(conn)
        raise WrongCode("the code is wrong, or was used already: use a new code from the app")

    async def _consume(self, conn: Conn, person: Person, code: str, at: datetime) -> bool | None:
        """Check and consume a code inside the caller's transaction, counting wrong ones (the
        caller commits a wrong outcome too); None without a confirmed second factor. The row
        lock makes two uses of one code at once take turns: the second sees it used."""
        row = await (
            await conn.execute(
                """SELECT sealed_secret, last_step, failures, blocked_until FROM mfa_totp
                    WHERE tenant_id = %s AND user_id = %s AND confirmed_at IS NOT NULL
                    FOR UPDATE""",
                person.ids,
            )
        ).fetchone()
        if row is None:
            return None
        sealed, last_step, failures, blocked_until = row
        if blocked_until is not None and blocked_until > at:
            raise TooManyAttempts(blocked_until, at)
        code = normalise(code)
        if _TOTP_SHAPE.match(code):
            step = match_totp(self._secret(sealed), code, at, last_step)
            ok, last_step = step is not None, last_step if step is None else step
        else:
            ok = await self._use_recovery_code(conn, person, code, at)
        failures = 0 if ok else failures + 1
        block = block_for(failures)
        await conn.execute(
            """UPDATE mfa_totp SET last_step = %s, failures = %s, blocked_until = %s
                WHERE user_id = %s""",
            (last_step, failures, None if block is None else at + block, person.user_id),
        )
        return ok

    async def _use_recovery_code(self, conn: Conn, person: Person, code: str, at: datetime) -> bool:
        if _RECOVERY_SHAPE.match(code) is None:
            return False
        digest = recovery_digest(self._key, person.user_id, code)
        rows = await (
            await conn.execute(
                "SELECT code_hash FROM mfa_recovery_codes WHERE user_id = %s AND used_at IS NULL",
                (person.user_id,),
            )
        ).fetchall()
        found = None
        for (stored,) in rows:  # every unused code compared, in constant time
            if hmac.compare_digest(bytes(stored), digest):
                found = bytes(stored)
        if found is None:
            return False
        await conn.execute(
            "UPDATE mfa_recovery_codes SET used_at = %s WHERE user_id = %s AND code_hash = %s",
            (at, person.user_id, found),
        )
        await _audit(conn, person, f"user:{person.user_id}", "mfa.recovery_code_used", at)
        return True

    async def _replace_recovery_codes(self, conn: Conn, person: Person, at: datetime) -> list[str]:
        codes, user_id = new_recovery_codes(), person.user_id
        await conn.execute("DELETE FROM mfa_recovery_codes WHERE user_id = %s", (user_id,))
        async with conn.cursor() as cur:
            await cur.executemany(
                """INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at)
                   VALUES (%s, %s, %s)""",
                [(user_id, recovery_digest(self._key, user_id, c), at) for c in codes],
            )
        return codes

    def _secret(self, sealed: bytes) -> str:
        return unseal(self._key, bytes(sealed)).decode()


async def _audit(conn: Conn, person: Person, actor: str, action: str, at: datetime) -> None:
    tenant_id, subject = person.ids
    await audit(conn, tenant_id=tenant_id, at=at, actor=actor, action=action, subject=subject)
