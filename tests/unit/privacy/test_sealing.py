"""Sealing a person's details: only their key, their tenant and their key id open them."""

from __future__ import annotations

import dataclasses

import pytest

from privacy.sealing import (
    Details,
    digest,
    digests,
    new_key,
    normal_email,
    normal_phone,
    open_sealed,
    seal,
)

ANA = Details(
    name="Ana Núñez", phone="+34 600 11 22 33", email="Ana@Example.org", note="wheelchair"
)
TENANT, OTHER_TENANT = "tenant-a", "tenant-b"


def test_a_sealed_value_opens_with_its_key_to_the_same_details() -> None:
    key = new_key()
    sealed = seal(key, TENANT, "k1", ANA)

    assert open_sealed(key, TENANT, sealed) == ANA
    assert sealed.key_id == "k1"


def test_the_sealed_value_shows_nothing_of_the_person() -> None:
    sealed = seal(new_key(), TENANT, "k1", ANA)

    for part in ("Ana", "Núñez", "600", "Example", "wheelchair"):
        assert part not in sealed.sealed


def test_two_seals_of_the_same_details_differ() -> None:
    """A fresh nonce each time: equal ciphertexts would tell that two people gave the same."""
    key = new_key()
    assert seal(key, TENANT, "k1", ANA).sealed != seal(key, TENANT, "k1", ANA).sealed


def test_another_key_cannot_open_it() -> None:
    sealed = seal(new_key(), TENANT, "k1", ANA)
    with pytest.raises(ValueError, match="cannot open"):
        open_sealed(new_key(), TENANT, sealed)


@pytest.mark.parametrize(
    ("tenant", "key_id"), [(OTHER_TENANT, "k1"), (TENANT, "k2")], ids=["tenant", "key id"]
)
def test_a_sealed_value_copied_elsewhere_does_not_open(tenant: str, key_id: str) -> None:
    """The associated data binds it to its tenant and key id, even under the same key."""
    key = new_key()
    sealed = seal(key, TENANT, "k1", ANA)
    moved = dataclasses.replace(sealed, key_id=key_id)

    with pytest.raises(ValueError, match="cannot open"):
        open_sealed(key, tenant, moved)


@pytest.mark.parametrize("damage", ["flip", "truncate", "not base64"])
def test_an_altered_value_does_not_open(damage: str) -> None:
    key = new_key()
    sealed = seal(key, TENANT, "k1", ANA)
    text = sealed.sealed
    if damage == "flip":
        text = text[:20] + ("A" if text[20] != "A" else "B") + text[21:]
    elif damage == "truncate":
        text = text[:16]
    else:
        text = "not base64 at all!"

    with pytest.raises(ValueError, match="cannot open"):
        open_sealed(key, TENANT, dataclasses.replace(sealed, sealed=text))


def test_details_never_show_in_their_repr() -> None:
    shown = repr(ANA)
    assert "Ana" not in shown and "600" not in shown and "name" in shown
    assert repr(Details()) == "Details(<nothing given>)"


@pytest.mark.parametrize(
    ("given", "normal"),
    [(" Ana@Example.ORG ", "ana@example.org"), ("ana@example.org", "ana@example.org")],
)
def test_emails_are_compared_without_case_or_spaces(given: str, normal: str) -> None:
    assert normal_email(given) == normal


@pytest.mark.parametrize(
    ("given", "normal"),
    [("+34 600 11-22-33", "+34600112233"), ("(030) 123.45", "03012345"), ("+49/30", "+4930")],
)
def test_phones_are_compared_by_their_digits(given: str, normal: str) -> None:
    assert normal_phone(given) == normal


def test_equal_addresses_meet_in_one_tenant_only() -> None:
    secret = "s" * 32
    same = digest(secret, TENANT, "email", "ana@example.org")

    assert digest(secret, TENANT, "email", " ANA@example.org") == same
    assert digest(secret, OTHER_TENANT, "email", "ana@example.org") != same
    assert digest("t" * 32, TENANT, "email", "ana@example.org") != same
    assert digest(secret, TENANT, "phone", "ana@example.org") != same


def test_digests_of_details_cover_the_email_and_phone_given() -> None:
    secret = "s" * 32
    assert len(digests(secret, TENANT, ANA)) == 2
    assert digests(secret, TENANT, Details(name="Only a name")) == []
