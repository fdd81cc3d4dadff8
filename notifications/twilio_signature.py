"""Twilio's request signature (`X-Twilio-Signature`), as its security documentation defines it:
the full URL Twilio requested (the one configured in its console, query string included), then
each POST parameter's name and value appended, sorted by name, with no delimiters; HMAC-SHA1
of that under the account's auth token, base64. A unit test checks it against the example
signature of Twilio's documentation.

The URL is the public one (VQ_PUBLIC_URL), not the one the API process sees: behind a proxy that
ends TLS, or on another port, the two differ and every signature would fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl

HEADER = "X-Twilio-Signature"


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends with a request of these POST parameters to `url`."""
    signed = url + "".join(name + value for name, value in sorted(params))
    mac = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def signature_matches(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str | None
) -> bool:
    """Whether `given` (the request's header; None when it had none) is the request's
    signature. Compared as bytes, in constant time."""
    if not given or not auth_token:
        return False
    expected = signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), given.encode())


def form_params(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's parameters, blank values kept (Twilio signs them too). Bytes that
    are not UTF-8 become U+FFFD: such a request's signature cannot match, which refuses it."""
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
