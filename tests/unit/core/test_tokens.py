"""Ticket tokens: a token opens its own ticket only, and any text given as a token is an answer
(never an error), whatever characters it holds."""

from __future__ import annotations

from core.tokens import ticket_token, token_matches

SECRET = "a-deployment-secret-0123456789abcdef"


def test_a_token_opens_its_own_ticket_only() -> None:
    token = ticket_token(SECRET, "ticket-1")
    assert token_matches(SECRET, "ticket-1", token)
    assert not token_matches(SECRET, "ticket-2", token)
    assert not token_matches("another-secret", "ticket-1", token)


def test_any_text_is_a_token_that_does_not_match() -> None:
    for given in ("", "±", "é" * 24, "\x00", "😀", ticket_token(SECRET, "ticket-1") + "x"):
        assert not token_matches(SECRET, "ticket-1", given)
