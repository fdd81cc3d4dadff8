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
from typing import Any

import httpcore
import httpx

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
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
            address = mapped
        if any(address in network for network in self.allowed):
            return True
        return address.is_global and not address.is_multicast

    async def vet(self, host: str, port: int) -> str:
        """The address to connect to for `host`: every address it resolves to must be
        permitted (a name that also resolves inside is refused), else OutboundRefused."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                found = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise OutboundFailed(f"cannot resolve {host}: {exc}") from exc
            addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        refused = [str(a) for a in addresses if not self.permits(a)]
        if refused or not addresses:
            raise OutboundRefused(
                f"{host} resolves to an address that may not be called ({', '.join(refused)})"
            )
        return str(addresses[0])


class _GuardedBackend(httpcore.AnyIOBackend):
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._guard.vet(host, port)
        return await super().connect_tcp(address, port, timeout, local_address, socket_options)


def _transport(guard: Guard, max_connections: int) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx builds its pool on the default network backend; ours vets every address it connects
    # to (TLS still verifies the URL's name: httpcore gives it as the server name).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
        network_backend=_GuardedBackend(guard),
    )
    return transport


class Outbound:
    """One process's outbound client; `post` is all a channel needs."""

    def __init__(self, guard: Guard, *, max_connections: int = 100) -> None:
        self._client = httpx.AsyncClient(
            transport=_transport(guard, max_connections),
            follow_redirects=False,
            trust_env=False,
        )

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, seconds: float = MAX_SECONDS
    ) -> OutboundResponse:
        """POST and read at most EXCERPT_BYTES of the answer, all within `seconds`. A redirect
        is an answer like any other (3xx), never followed."""
        scheme = httpx.URL(url).scheme
        if scheme not in ("http", "https"):
            raise OutboundRefused(f"only http and https URLs may be called, not {scheme!r}")
        seconds = min(seconds, MAX_SECONDS)
        started = time.monotonic()
        try:
            async with asyncio.timeout(seconds):
                request = self._client.build_request(
                    "POST", url, headers=dict(headers), content=body,
                    timeout=httpx.Timeout(seconds),
                )  # fmt: skip
                response = await self._client.send(request, stream=True)
                try:
                    excerpt = await _first_bytes(response, EXCERPT_BYTES)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise OutboundFailed(f"no answer within {seconds:g} s") from exc
        except httpx.HTTPError as exc:
            raise OutboundFailed(f"{type(exc).__name__}: {exc}") from exc
        return OutboundResponse(response.status_code, time.monotonic() - started, excerpt)

    async def aclose(self) -> None:
        await self._client.aclose()


async def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    kept = bytearray()
    async for chunk in response.aiter_raw():
        kept += chunk[: limit - len(kept)]
        if len(kept) >= limit:
            break
    return bytes(kept)
