"""Twilio's request signature (`X-Twilio-Signature`), as its security documentation defines it:
the full URL Twilio requested (the one configured in its console, query string included), then
each POST parameter's name and value appended, sorted by name, with no delimiters; HMAC-SHA1
of that under the account's auth token, base64. A unit test checks it against the example
signature of Twilio's documentation.

The URL is the public one (VQ_PUBLIC_URL), not the one the API process sees: behind a proxy that
ends TLS, or on another port, the two differ and every signature would fail. Twilio signs the URL
as written in its console, where `https://x/y` and `https://x:443/y` are the same address: as
Twilio's own validators do, a signature of the URL with the scheme's default port written out
(or left out) matches too; another port is another address and does not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

HEADER = "X-Twilio-Signature"
DEFAULT_PORTS = {"https": 443, "http": 80}


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
    signed = list(params)
    # Every form is compared (no early exit): how long it takes says nothing of which matched.
    found = [
        hmac.compare_digest(signature(auth_token, form, signed).encode(), given.encode())
        for form in same_address(url)
    ]
    return any(found)


def same_address(url: str) -> list[str]:
    """`url` as given, then as Twilio may have signed it: with the scheme's default port left
    out when it is written (`https://x:443/y` -> `https://x/y`), written out when it is not."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:  # not a port: nothing else to try
        return [url]
    if default is None or parts.hostname is None or port not in (None, default):
        return [url]
    host = parts.netloc.rpartition(":")[0] if port is not None else f"{parts.netloc}:{default}"
    return [url, urlunsplit(parts._replace(netloc=host))]


def form_params(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's parameters, blank values kept (Twilio signs them too). Bytes that
    are not UTF-8 become U+FFFD: such a request's signature cannot match, which refuses it."""
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
