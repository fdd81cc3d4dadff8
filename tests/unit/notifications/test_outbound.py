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
