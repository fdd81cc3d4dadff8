"""Outbound HTTP that cannot be aimed at us: against a real HTTP server on loopback (allowed by
the guard only where a test says so), and names and addresses that must be refused."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from notifications.outbound import Guard, Outbound, OutboundFailed, OutboundRefused

LOOPBACK = Guard.allowing(["127.0.0.0/8"])


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: answers `status` (or never answers), records the bodies."""

    port: int = 0
    status: int = 200
    silent: bool = False
    headers: str = ""
    bodies: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        self.bodies.append(await reader.readexactly(length))
        if self.silent:
            await asyncio.sleep(3600)
        body = b"x" * 10_000
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(body)}\r\n"
            f"{self.headers}\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found
        server.close()


async def test_a_post_to_an_allowed_receiver_and_a_bounded_excerpt(receiver: Receiver) -> None:
    outbound = Outbound(LOOPBACK)
    try:
        answer = await outbound.post(receiver.url, {"content-type": "application/json"}, b"{}")
    finally:
        await outbound.aclose()
    assert answer.status == 200 and receiver.bodies == [b"{}"]
    assert len(answer.excerpt) == 2048


async def test_loopback_and_private_addresses_are_refused_unless_allowed(
    receiver: Receiver,
) -> None:
    outbound = Outbound(Guard())
    try:
        for url in (
            receiver.url,
            f"http://localhost:{receiver.port}/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
        ):
            with pytest.raises(OutboundRefused):
                await outbound.post(url, {}, b"{}")
        with pytest.raises(OutboundRefused, match="http and https"):
            await outbound.post("file:///etc/passwd", {}, b"")
    finally:
        await outbound.aclose()
    assert receiver.bodies == []  # nothing reached it


def test_what_the_guard_permits() -> None:
    guard = Guard.allowing(["192.168.7.0/24"])
    assert guard.permits(ipaddress.ip_address("93.184.216.34"))
    assert guard.permits(ipaddress.ip_address("192.168.7.9"))  # the operator allowed it
    for inside in ("192.168.8.1", "127.0.0.1", "::1", "fe80::1", "224.0.0.1", "fc00::1"):
        assert not guard.permits(ipaddress.ip_address(inside)), inside


@pytest.mark.parametrize(
    "inside",
    [
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:0:127.0.0.1",  # IPv4-translated (SIIT)
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "::7f00:1",
        "64:ff9b::7f00:1",  # NAT64's well-known prefix
        "64:ff9b::a9fe:a9fe",  # ... to a cloud's metadata address
        "64:ff9b:1::808:808",  # NAT64 for local use: a translator inside a network
        "2002:7f00:1::",  # 6to4
        "2002:c0a8:701::1",  # 6to4 to 192.168.7.1 (not the allowed 192.168.7.0/24's own form)
    ],
)
def test_an_ipv6_address_that_reaches_an_inside_ipv4_one_is_refused(inside: str) -> None:
    assert not Guard.allowing(["192.168.9.0/24"]).permits(ipaddress.ip_address(inside))


def test_an_ipv6_form_of_an_allowed_or_public_ipv4_address_is_judged_as_that_address() -> None:
    loopback = Guard.allowing(["127.0.0.0/8"])
    for form in ("::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::"):
        assert loopback.permits(ipaddress.ip_address(form)), form
    for public in ("64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111"):
        assert Guard().permits(ipaddress.ip_address(public)), public


async def test_a_redirect_is_an_answer_not_followed(receiver: Receiver) -> None:
    receiver.status, receiver.headers = 302, "Location: http://127.0.0.1:1/elsewhere\r\n"
    outbound = Outbound(LOOPBACK)
    try:
        answer = await outbound.post(receiver.url, {}, b"{}")
    finally:
        await outbound.aclose()
    assert answer.status == 302 and len(receiver.bodies) == 1


async def test_a_receiver_that_never_answers_times_out(receiver: Receiver) -> None:
    receiver.silent = True
    outbound = Outbound(LOOPBACK)
    try:
        with pytest.raises(OutboundFailed, match=r"no answer within 0\.3 s"):
            await outbound.post(receiver.url, {}, b"{}", seconds=0.3)
        with pytest.raises(OutboundFailed):  # nothing listens there
            await outbound.post("http://127.0.0.1:1/", {}, b"{}", seconds=2)
    finally:
        await outbound.aclose()
