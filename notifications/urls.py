"""Which webhook URLs a tenant may register.

Requests are vetted again where they are made (notifications/outbound.py resolves every name and
refuses what is not public); this is the early, clear refusal of what is plainly aimed inside:
an IP literal that is loopback, private, link-local or reserved (unless the operator allowed its
network, `VQ_OUTBOUND_ALLOW`), `localhost`, and credentials in the URL.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from notifications.outbound import Guard, IPAddress

# The legacy IPv4 spellings resolvers still take: 127.1, 2130706433, 0x7f.0.0.1.
_LEGACY_IPV4 = re.compile(r"^[0-9a-fA-Fx.]+$")


def ip_literal(host: str) -> IPAddress | None:
    """The address a host names by itself (no DNS), or None for a name."""
    host = host.removesuffix(".")  # "localhost." is the fully qualified localhost
    if host == "localhost" or host.endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _is_host(host: str) -> bool:
    """A DNS name's bounds (RFC 1035), or an IPv6 literal (urlsplit took its brackets off)."""
    if ":" in host:
        return True  # urlsplit has checked a bracketed host is an IPv6 address
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(0 < len(label) <= 63 for label in labels)


def refusal(url: str, guard: Guard) -> str | None:
    """Why `url` may not be a webhook endpoint; None when it may."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. a bracketed host that is no IPv6 address
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "a webhook URL is http or https"
    if parts.username is not None or parts.password is not None:
        return "a webhook URL carries no credentials (verify our signature instead)"
    try:
        port = parts.port  # it raises for a port out of range
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        return "the port is out of range (1-65535)"
    host = parts.hostname
    if not host:
        return "a webhook URL names a host"
    if not _is_host(host):
        return f"{host[:80]} is not a host name (at most 253 characters, labels of 1-63)"
    address = ip_literal(host)
    if address is not None and not guard.permits(address):
        return (
            f"{host} is not a public address (loopback, private, link-local or reserved); "
            "the operator may allow its network with VQ_OUTBOUND_ALLOW"
        )
    return None


def push_refusal(endpoint: str, guard: Guard) -> str | None:
    """Why a browser's push endpoint may not be used; None when it may. Push services are https;
    plain http only for an address the operator allowed (a push service inside their network)."""
    why = refusal(endpoint, guard)
    if why is not None:
        return why.replace("a webhook URL", "a push endpoint")
    parts = urlsplit(endpoint)
    if parts.scheme == "https":
        return None
    address = ip_literal(parts.hostname or "")
    if address is not None and guard.permits(address) and not address.is_global:
        return None
    return "a push endpoint is https"
