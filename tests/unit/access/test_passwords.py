"""Passwords, pure and local: the policy, argon2id hashing and checking off the event loop, the
rehash of older parameters, and the bound on hashing at once."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
from argon2 import PasswordHasher

from access import passwords
from access.passwords import (
    HashingBusy,
    check_password,
    hash_password,
    policy_problems,
)

GOOD = "violet tram under the pier"


def test_a_long_uncommon_password_passes() -> None:
    assert policy_problems(GOOD, "ada@example.com") == []
    assert policy_problems("plain old words here", None) == []


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-one", "at least 12 characters"),
        ("z" * 129, "at most 128 characters"),
        ("Ada.Lovelace@Example.com", "not your email address"),
        ("ada.lovelace", "not your email address"),
        ("Password1234", "not one of the most common passwords"),
        ("qwerty123456", "not one of the most common passwords"),
        ("aaaaaaaaaaaa", "not one of the most common passwords"),
        ("aaaaaaaaaaaaaa", "more than one or two different characters"),
        ("ababababababab", "more than one or two different characters"),
    ],
)
def test_the_policy_names_what_is_wrong(password: str, why: str) -> None:
    assert why in policy_problems(password, "ada.lovelace@example.com")


def test_the_boundaries_of_the_length() -> None:
    assert policy_problems("k7#mq2!vz9pw") == []  # 12
    assert "at least 12 characters" in policy_problems("k7#mq2!vz9p")  # 11
    assert policy_problems("k7#mq2!vz9pw" * 10 + "abcdefgh") == []  # 128
    assert "at most 128 characters" in policy_problems("k7#mq2!vz9pw" * 10 + "abcdefghi")


async def test_a_hash_is_argon2id_salted_and_checks_only_its_password() -> None:
    first, second = await hash_password(GOOD), await hash_password(GOOD)
    assert first.startswith("$argon2id$") and first != second  # a salt each
    assert "m=19456,t=2,p=1" in first
    assert (await check_password(first, GOOD)).ok
    wrong = await check_password(first, GOOD + "!")
    assert not wrong.ok and wrong.rehash is None


async def test_no_stored_hash_or_a_broken_one_says_no() -> None:
    assert not (await check_password(None, GOOD)).ok
    assert not (await check_password("not-a-hash", GOOD)).ok


async def test_a_hash_with_older_parameters_is_redone_on_success() -> None:
    older = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(GOOD)
    checked = await check_password(older, GOOD)
    assert checked.ok and checked.rehash is not None
    assert "m=19456,t=2,p=1" in checked.rehash
    assert (await check_password(checked.rehash, GOOD)).ok
    current = await hash_password(GOOD)
    assert (await check_password(current, GOOD)).rehash is None


async def test_hashing_leaves_the_event_loop_free() -> None:
    """While many hashes run, a ticker on the loop keeps its pace: its typical gap stays well
    under one hash's time (were the hashes on the loop, every gap would last a hash or more).
    The median, not the largest gap: a busy machine may pause the process now and then."""
    stored = await hash_password(GOOD)
    started = time.perf_counter()
    assert (await check_password(stored, GOOD)).ok
    one_hash = time.perf_counter() - started
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    results = await asyncio.gather(*(check_password(stored, GOOD) for _ in range(16)))
    done.set()
    await ticking
    assert all(r.ok for r in results)
    assert len(gaps) > 5, gaps
    assert statistics.median(gaps) < one_hash / 2, (statistics.median(gaps), one_hash)


async def test_past_the_waiting_bound_a_hash_is_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passwords, "MAX_WAITING", 2)
    stored = await hash_password(GOOD)
    outcomes = await asyncio.gather(
        *(check_password(stored, GOOD) for _ in range(6)), return_exceptions=True
    )
    busy = [o for o in outcomes if isinstance(o, HashingBusy)]
    assert len(busy) == 4 and all(isinstance(o, passwords.Checked) for o in outcomes[:2])
    assert busy[0].retry_after_s > 0 and "try again" in busy[0].detail()
