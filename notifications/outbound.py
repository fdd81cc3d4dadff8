"""The only way requests leave the product: outbound HTTP that cannot be aimed at us.

A webhook URL is chosen by a tenant, so it is an attack surface (SSRF): aimed at 127.0.0.1, at
10.x, at a cloud's metadata address or at a name that resolves there, it would make us call our
own insides. So every connection is vetted where it is made: the host is resolved, every address
it resolves to must be public (or inside a network the operator allowed, `VQ_OUTBOUND_ALLOW`),
and the connection goes to the address that was vetted, not to a second resolution of the name
(no DNS rebinding between the check and the call). TLS still verifies the name. No redirect is
followed, no proxy from the environment is used, every phase is bounded in time, and at most a
few KiB of an answer are read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The seed documents' bound for one webhook call; a channel may ask for less.
MAX_SECONDS = 30.0
# What the delivery log keeps of an answer.
EXCERPT_BYTES = 2048


class OutboundRefused(Exception):
    """The URL may not be called: a scheme other than http(s), or an address that is not public
    (and not allowed by the operator). Retrying changes nothing."""


class OutboundFailed(Exception):
    """The call did not complete: no connection, a timeout, a broken answer. Worth a retry."""


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status: int
    seconds: float
    excerpt: bytes  # the first EXCERPT_BYTES of the body


@dataclass(frozen=True, slots=True)
class Guard:
    """Which addresses may be called: public ones, and those in `allowed` (e.g. a test's
    loopback receiver, or an intranet the operator trusts)."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> Guard:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def permits(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed):
            return True
        inner = embedded_ipv4(address)
        if inner is not None:  # ::ffff:127.0.0.1, 64:ff9b::7f00:1, 2002:7f00:1:: are 127.0.0.1
            return self.permits(inner)
        if address in _LOCAL_NAT64:  # a translator inside someone's network
            return False
        return address.is_global and not address.is_multicast


# IPv6 addresses that carry an IPv4 one in their last 32 bits, and reach it: IPv4-mapped and
# -translated (SIIT), the well-known NAT64 prefix (RFC 6052), and the deprecated IPv4-compatible
# form (::/96, which holds :: and ::1 too). 6to4 (2002::/16) carries it in bits 16-48.
_TAIL_IPV4 = tuple(
    ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "::/96")
)
# RFC 8215's NAT64 prefix for local use (an IPv4 address somewhere in it): Python 3.11 calls it
# global.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches through translation or tunnelling, if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _TAIL_IPV4):
        return ipaddress.IPv4Address(address.packed[-4:])
    return None


class GuardedResolver(AbstractResolver):
    """Resolves a name and refuses it unless every address it resolves to is permitted; the
    connection is then made to those vetted addresses (no second resolution to rebind)."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            found = await self._resolver.resolve(host, port, family)
        except OSError as exc:
            raise OutboundFailed(f"cannot resolve {host}: {exc}") from exc
        refused = [r["host"] for r in found if not self._guard.permits(ip_address(r["host"]))]
        if refused or not found:
            raise OutboundRefused(
                f"{host} resolves to an address that may not be called ({', '.join(refused)})"
            )
        return found

    async def close(self) -> None:
        await self._resolver.close()


class Outbound:
    """One process's outbound client; `post` is all a channel needs. Its session is made on
    first use, inside the running loop."""

    def __init__(self, guard: Guard, *, max_connections: int = 100) -> None:
        self._guard = guard
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                resolver=GuardedResolver(self._guard),
                ttl_dns_cache=10,
                keepalive_timeout=30,
            )
            # No proxy from the environment, no cookies kept between tenants' endpoints.
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, seconds: float = MAX_SECONDS
    ) -> OutboundResponse:
        """POST and read at most EXCERPT_BYTES of the answer, all within `seconds`. A redirect
        is an answer like any other (3xx), never followed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise OutboundRefused(f"only http and https URLs may be called, not {parts.scheme!r}")
        literal = _literal(parts.hostname or "")
        if literal is not None and not self._guard.permits(literal):  # no resolver for these
            raise OutboundRefused(f"{literal} is an address that may not be called")
        seconds = min(seconds, MAX_SECONDS)
        started = time.monotonic()
        try:
            async with (
                asyncio.timeout(seconds),
                self._client().post(
                    url, data=body, headers=dict(headers), allow_redirects=False
                ) as response,
            ):
                excerpt = await _first_bytes(response.content, EXCERPT_BYTES)
                status = response.status
        except TimeoutError as exc:
            raise OutboundFailed(f"no answer within {seconds:g} s") from exc
        except aiohttp.ClientError as exc:
            raise OutboundFailed(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # a URL aiohttp cannot take apart
            raise OutboundRefused(f"not a URL that may be called: {exc}") from exc
        return OutboundResponse(status, time.monotonic() - started, excerpt)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _first_bytes(content: aiohttp.StreamReader, limit: int) -> bytes:
    kept = bytearray()
    while len(kept) < limit:
        chunk = await content.read(limit - len(kept))
        if not chunk:
            break
        kept += chunk
    return bytes(kept)
