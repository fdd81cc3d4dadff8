"""A real SMTP server (aiosmtpd) on loopback that keeps what it was sent.

    with SmtpReceiver() as smtp:
        settings = Settings(smtp_host=smtp.host, smtp_port=smtp.port)
        ...
        [mail] = smtp.messages
        assert mail.message["Subject"] == "..."
        assert "..." in mail.text and mail.html is not None

An email to a person is text and HTML (`multipart/alternative`): its `message.get_content()`, as
`text`, is the text part, what the tests mean by "the body" (and a text-only client shows);
`html` is the HTML part (None for a text-only email).

`refuse(address)` answers its RCPT with 550 (a mailbox that does not exist); `defer(address)`
with 451 (try again later).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self, cast

from aiosmtpd.controller import Controller

from tests.receivers import wait_until


class _Email(EmailMessage):
    """A received email whose content, when it is text and HTML, is its text part."""

    def get_content(self, *args: Any, **kw: Any) -> Any:
        if self.get_content_type() == "multipart/alternative":
            text = self.get_body(("plain",))
            assert text is not None, "multipart/alternative without a text part"
            return text.get_content(*args, **kw)
        return super().get_content(*args, **kw)


# The default (modern) policy, making `_Email`s.
_POLICY = email.policy.default.clone(message_factory=_Email)


@dataclass(frozen=True, slots=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage  # parsed with the default (modern) policy; its content is the text
    raw: bytes

    @property
    def text(self) -> str:
        return str(self.message.get_content())

    @property
    def html(self) -> str | None:
        if self.message.get_content_type() != "multipart/alternative":
            return None
        part = self.message.get_body(("html",))
        return None if part is None else str(part.get_content())


class _Handler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.refusals: dict[str, str] = {}  # lower-cased address -> the reply to its RCPT

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            refusal = self.refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(raw, policy=_POLICY)
        found = Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed, raw)
        with self.lock:
            self.received.append(found)
            number = len(self.received)
        return f"250 2.0.0 Ok: queued as VQTEST{number:06d}"


class _Controller(Controller):
    """aiosmtpd's controller, on a port the system chooses (it would connect to port 0)."""

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpReceiver:
    def __init__(self) -> None:
        self._handler = _Handler()
        self._controller = _Controller(self._handler, hostname="127.0.0.1", port=0)
        self.host = "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        with self._handler.lock:
            self._handler.refusals[address.lower()] = reply

    def defer(self, address: str) -> None:
        self.refuse(address, "451 4.3.0 Mailbox temporarily unavailable")

    @property
    def messages(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        await wait_until(lambda: len(self.messages) >= count, timeout, f"{count} email(s)")
        return self.messages
