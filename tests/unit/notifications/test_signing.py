"""Webhook signatures: the Standard Webhooks spec's test vector, a secret rotation, and the
official `standardwebhooks` library verifying what we sign."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifications.signing import (
    InvalidSignature,
    new_secret,
    sign,
    signature,
    verify,
)

# From the spec (and the Svix libraries' tests).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specs_test_vector() -> None:
    assert signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == EXPECTED


def test_the_official_library_verifies_what_we_sign() -> None:
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())
    headers = sign([secret], "msg_1", now, b'{"type":"TicketCalled"}').as_dict()
    assert Webhook(secret).verify(b'{"type":"TicketCalled"}', headers) == {"type": "TicketCalled"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(b'{"type":"TicketCalled"}', headers)
    with pytest.raises(WebhookVerificationError):  # the body was changed on the way
        Webhook(secret).verify(b'{"type":"TicketServed"}', headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    now = int(datetime.now(UTC).timestamp())
    headers = sign([old, new], "msg_2", now, BODY).as_dict()
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        verify(secret, headers, BODY, now=now + 10)
        assert Webhook(secret).verify(BODY, headers) == {"test": 2432232314}
    with pytest.raises(InvalidSignature):
        verify(new_secret(), headers, BODY, now=now)


def test_a_message_too_old_or_too_new_is_refused() -> None:
    headers = sign([SECRET], MESSAGE_ID, TIMESTAMP, BODY).as_dict()
    verify(SECRET, headers, BODY, now=TIMESTAMP + 299)
    for now in (TIMESTAMP + 301, TIMESTAMP - 301):
        with pytest.raises(InvalidSignature, match="timestamp"):
            verify(SECRET, headers, BODY, now=now)


def test_a_secret_must_be_whsec_and_base64() -> None:
    for bad in ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"):
        with pytest.raises(ValueError, match="whsec_"):
            signature(bad, MESSAGE_ID, TIMESTAMP, BODY)
