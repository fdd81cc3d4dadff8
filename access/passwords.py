"""Passwords: the policy a new one must meet, and argon2id hashing (argon2-cffi).

Hashing costs real CPU and memory by design, so it never runs on the event loop: each hash or
check runs on a thread, and at most `CONCURRENCY` of them at once, with at most `MAX_WAITING`
waiting their turn. A flood of sign-ins therefore cannot take the CPU from everything else the
API does; past the waiting bound it is told to retry (a 503 with Retry-After) at once instead of
queueing without end. The parameters are OWASP's (argon2id, 19 MiB, 2 passes, 1 lane); a hash
made with other parameters is redone at the next successful sign-in (`Checked.rehash`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import Unavailable

MIN_LENGTH = 12
MAX_LENGTH = 128
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
CONCURRENCY = max(1, os.cpu_count() or 1)
MAX_WAITING = 256
T = TypeVar("T")

# The most common passwords of 12 characters or more (shorter ones fail the length rule), from
# the public breach corpora's top lists; compared lower-cased.
COMMON: frozenset[str] = frozenset(
    {
        *("123456789012", "1234567890123", "12345678901234", "123456789123", "111111111111"),
        *("000000000000", "123123123123", "123456123456", "121212121212", "112233445566"),
        *("qwertyuiopas", "qwertyuiop12", "qwerty123456", "qwertyqwerty", "1q2w3e4r5t6y"),
        *("1qaz2wsx3edc", "zaq12wsxcde3", "asdfghjkl123", "qazwsxedcrfv", "q1w2e3r4t5y6"),
        *("password1234", "password12345", "password123456", "passwordpassword", "password1!"),
        *("password123!", "p@ssw0rd1234", "passw0rd1234", "mypassword123", "adminadmin123"),
        *("administrator", "administrator1", "welcome12345", "welcome123456", "letmein12345"),
        *("iloveyou1234", "iloveyouiloveyou", "abc123456789", "abcdefghijkl", "abcd12345678"),
        *("football1234", "baseball1234", "superman1234", "sunshine1234", "princess1234"),
        *("monkey123456", "dragon123456", "changeme1234", "changemenow!", "trustno11234"),
        *("starwars1234", "computer1234", "whatever1234", "master123456", "shadow123456"),
        *("michael12345", "jennifer1234", "basketball12", "liverpool123", "chelsea12345"),
        *("correcthorsebatterystaple", "correct horse battery staple", "qwerty1234567"),
        *("1234567890qwerty", "qwerty1234567890", "0987654321qwerty", "asdfasdfasdf"),
        *("zxcvbnm12345", "zxcvbnmasdfg", "aaaaaaaaaaaa", "a1b2c3d4e5f6", "abcabcabcabc"),
    }
)


class HashingBusy(Unavailable):
    public_detail = "too many sign-ins at once; try again in a moment"


def policy_problems(password: str, email: str | None = None) -> list[str]:
    """Why `password` may not be used (empty: it may): 12 to 128 characters, not the email (nor
    its name part), not one of the most common passwords, not one character repeated."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"at most {MAX_LENGTH} characters")
    lowered = password.strip().lower()
    if email:
        address = email.strip().lower()
        if lowered in (address, address.partition("@")[0]):
            problems.append("not your email address")
    if lowered in COMMON:
        problems.append("not one of the most common passwords")
    elif len(set(lowered)) <= 2:
        problems.append("more than one or two different characters")
    return problems


@dataclass(frozen=True, slots=True)
class Checked:
    ok: bool
    # A new hash of the same password when the stored one used older parameters (store it).
    rehash: str | None = None


class _Gate:
    """At most CONCURRENCY hashes at once on one event loop, MAX_WAITING waiting."""

    def __init__(self) -> None:
        self.semaphore = asyncio.Semaphore(CONCURRENCY)
        self.waiting = 0


# One gate per event loop (a semaphore belongs to the loop it first waited on; tests run many).
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = weakref.WeakKeyDictionary()
_dummy: str | None = None


def _gate() -> _Gate:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = _Gate()
    return gate


async def _off_loop(work: Callable[[], T]) -> T:
    gate = _gate()
    if gate.waiting >= MAX_WAITING:
        raise HashingBusy(f"{gate.waiting} password hashes waiting")
    gate.waiting += 1
    try:
        async with gate.semaphore:
            return await asyncio.to_thread(work)
    finally:
        gate.waiting -= 1


async def hash_password(password: str) -> str:
    return await _off_loop(lambda: HASHER.hash(password))


def _check(stored: str, password: str) -> Checked:
    try:
        HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Checked(False)
    return Checked(True, HASHER.hash(password) if HASHER.check_needs_rehash(stored) else None)


async def check_password(stored: str | None, password: str) -> Checked:
    """Whether `password` is the one `stored` is the hash of. Without a stored hash (an unknown
    email, a person without a password) a dummy hash is checked instead, so the answer takes
    the same time and says no: nobody learns from the timing which emails exist."""
    if stored is None:
        dummy = await _dummy_hash()
        await _off_loop(lambda: _check(dummy, password))
        return Checked(False)
    return await _off_loop(lambda: _check(stored, password))


async def _dummy_hash() -> str:
    global _dummy
    if _dummy is None:
        _dummy = await _off_loop(lambda: HASHER.hash(secrets.token_urlsafe(24)))
    return _dummy
