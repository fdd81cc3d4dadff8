"""Sealing: what is sealed opens with the same secret key only, and any alteration is refused."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet, InvalidToken

from access.sealed import seal, unseal

SECRET = "a-long-enough-secret-key-for-tests-0123456789"


def test_a_sealed_value_opens_with_its_secret_key() -> None:
    data = b"JBSWY3DPEHPK3PXP \x00\xff binary too"
    sealed = seal(SECRET, data)
    assert data not in sealed
    assert unseal(SECRET, sealed) == data
    assert unseal(SECRET, seal(SECRET, b"")) == b""


def test_sealing_twice_gives_different_ciphertexts() -> None:
    assert seal(SECRET, b"same") != seal(SECRET, b"same")


def test_another_secret_key_cannot_unseal() -> None:
    sealed = seal(SECRET, b"private key")
    with pytest.raises(ValueError):
        unseal(SECRET + "x", sealed)


def test_the_secret_key_itself_is_not_the_fernet_key() -> None:
    """The Fernet key is derived (HKDF): a key made from the secret's own bytes opens nothing."""
    secret = base64.urlsafe_b64encode(b"k" * 32).decode()
    sealed = seal(secret, b"data")
    with pytest.raises(InvalidToken):
        Fernet(secret.encode()).decrypt(sealed)


@pytest.mark.parametrize("position", [0, 9, 20, 40, -30, -1])
def test_any_altered_byte_is_refused(position: int) -> None:
    sealed = bytearray(seal(SECRET, b"the secret of a TOTP enrolment"))
    sealed[position] = ord("A") if sealed[position] != ord("A") else ord("B")
    with pytest.raises(ValueError, match="cannot unseal"):
        unseal(SECRET, bytes(sealed))


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not a fernet token", b"\xff\xfe\x00", b"gAAAAA", "text, not bytes", None, 42],
)
def test_garbage_is_a_value_error(garbage: object) -> None:
    with pytest.raises(ValueError):
        unseal(SECRET, garbage)  # type: ignore[arg-type]


def test_an_empty_secret_key_is_refused() -> None:
    with pytest.raises(ValueError):
        seal("", b"data")
