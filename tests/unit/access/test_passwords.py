"""Passwords, pure and local: the policy, argon2id hashing and checking off the event loop, the
rehash of older parameters, and the bound on hashing at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

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


async def test_hashing_leaves_the_event_loop_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the hashes run, the loop goes on: a ticker on it ticks while a hash is under way.
    Were a hash computed on the loop, no tick could happen before it ended. Counted, not timed:
    a busy machine may slow both down, never make the ticks happen during a hash on the loop."""
    stored = await hash_password(GOOD)
    running = 0  # hashes under way, in the threads they are handed to
    handed = asyncio.to_thread

    async def marked(work: Callable[[], Any], /) -> Any:
        def run() -> Any:
            nonlocal running
            running += 1
            try:
                return work()
            finally:
                running -= 1

        return await handed(run)

    monkeypatch.setattr(asyncio, "to_thread", marked)  # the one access.passwords calls
    ticks, during = 0, 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks, during
        while not done.is_set():
            await asyncio.sleep(0.001)
            ticks += 1
            during += running > 0

    ticking = asyncio.create_task(ticker())
    results = await asyncio.gather(*(check_password(stored, GOOD) for _ in range(16)))
    done.set()
    await ticking
    assert all(r.ok for r in results)
    assert ticks > 5, ticks
    assert during >= len(results), (during, ticks)  # at least a tick a hash, mid-hash


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
