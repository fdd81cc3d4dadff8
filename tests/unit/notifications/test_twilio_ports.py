"""Twilio signs the inbound webhook's URL as written in its console: `https://x/y` there and
`https://x:443/y` in VQ_PUBLIC_URL (or the other way round) are one address, and Twilio's own
validators accept both. Another port is another address."""

from __future__ import annotations

import pytest

from notifications.twilio_signature import same_address, signature, signature_matches

TOKEN = "12345"
PARAMS = [("Body", "STOP"), ("From", "+447700900123"), ("MessageSid", "SM1")]


@pytest.mark.parametrize(
    ("signed", "configured"),
    [
        ("https://vq.example.org/v1/sms/inbound", "https://vq.example.org:443/v1/sms/inbound"),
        ("https://vq.example.org:443/v1/sms/inbound", "https://vq.example.org/v1/sms/inbound"),
        ("http://vq.example.org/v1/sms/inbound?x=1", "http://vq.example.org:80/v1/sms/inbound?x=1"),
        ("http://vq.example.org:80/v1/sms/inbound", "http://vq.example.org/v1/sms/inbound"),
        ("https://[2001:db8::1]/v1/sms/inbound", "https://[2001:db8::1]:443/v1/sms/inbound"),
        ("https://vq.example.org/v1/sms/inbound", "https://vq.example.org/v1/sms/inbound"),
    ],
)
def test_the_default_port_written_or_not_is_the_same_address(signed: str, configured: str) -> None:
    given = signature(TOKEN, signed, PARAMS)
    assert signature_matches(TOKEN, configured, PARAMS, given)


@pytest.mark.parametrize(
    ("signed", "configured"),
    [
        # Another port, or the other scheme's default: another address.
        ("https://vq.example.org:8443/v1/sms/inbound", "https://vq.example.org/v1/sms/inbound"),
        ("https://vq.example.org/v1/sms/inbound", "https://vq.example.org:8443/v1/sms/inbound"),
        ("https://vq.example.org:80/v1/sms/inbound", "https://vq.example.org/v1/sms/inbound"),
        ("http://vq.example.org:443/v1/sms/inbound", "http://vq.example.org/v1/sms/inbound"),
        ("http://vq.example.org/v1/sms/inbound", "https://vq.example.org/v1/sms/inbound"),
    ],
)
def test_another_port_or_scheme_is_another_address(signed: str, configured: str) -> None:
    given = signature(TOKEN, signed, PARAMS)
    assert not signature_matches(TOKEN, configured, PARAMS, given)


def test_the_forms_tried_are_the_url_then_its_other_writing() -> None:
    assert same_address("https://x.example/y") == ["https://x.example/y", "https://x.example:443/y"]
    assert same_address("https://x.example:443/y") == [
        "https://x.example:443/y",
        "https://x.example/y",
    ]
    assert same_address("https://x.example:8443/y") == ["https://x.example:8443/y"]
    assert same_address("https://x.example:99999/y") == ["https://x.example:99999/y"]
