"""Email over SMTP: messages to the configured relay, over a few kept sessions.

The relay is the operator's, not a tenant's (so it is not an outbound HTTP request and needs no
address guard). The Message-ID is derived from the message id, so a message sent twice (its
answer lost, then tried again) is recognisably the same message to the relay and the reader's
client. A 5xx to the envelope or the content is permanent; anything else is worth a retry.

An email to a person's subscription carries the way to stop it (notifications/optout.py): RFC
8058's `List-Unsubscribe` (the opt-out link) and `List-Unsubscribe-Post` (which tells a mailbox
provider that a POST of `List-Unsubscribe=One-Click` to the link stops it, the "unsubscribe"
button Gmail and Yahoo show), and a last line with the same link in the message's language. It
is added here, whatever the template says, so no tenant's own words can leave it out.

Such an email is `multipart/alternative`: the text (as it always was) first, then an HTML part
made of the same text (notifications/email_html.py), which a reader's client shows instead, with
its links clickable. Alerts to staff and account emails (an invitation, a reset: a link that
works once, in the product's own words) stay text only: they have neither the ticket's link nor
the opt-out that the HTML is for.
"""

from __future__ import annotations

import asyncio
import email.message
import hashlib
import re
import time
from email.base64mime import body_encode
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, parseaddr
from typing import cast

import aiosmtplib

from core.settings import Settings
from notifications import email_html
from notifications.messages import DeliveryFailed, Message, Rendered, Sent
from notifications.optout import footer, optout_url

SECONDS = 10.0
POOL_SIZE = 16  # SMTP sessions kept open per process
QUIT_SECONDS = 2.0
MESSAGE_ID_HEADER = "X-VQ-Message-Id"
# Most relays say which queue entry took the message ("250 2.0.0 Ok: queued as 4Bq1Zw6kz4z").
_QUEUED = re.compile(r"queued as ([A-Za-z0-9.<>@_-]+)", re.IGNORECASE)


def _digest(message: Message) -> str:
    return hashlib.sha256(message.id.encode()).hexdigest()[:32]


def message_id(message: Message, sender: str) -> str:
    """`<vq.HASH@domain>`: the same for every attempt at one message."""
    domain = sender.rpartition("@")[2] or "virtual-queue.invalid"
    return f"<vq.{_digest(message)}@{domain}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def recipient(to: str) -> tuple[str, str]:
    """The display name and the address of `Name <local@domain>` or `local@domain`; ValueError
    for anything else. Strict, because `parseaddr` repairs what it cannot read (it makes
    `ada@example.com` of `ada@exa mple.com`, and an address of a header smuggled in after a
    line break): a message goes to the address as given, or nowhere."""
    if any(ord(c) < 32 or ord(c) == 127 for c in to):
        raise ValueError("an email address has no control characters")
    name, address = parseaddr(to)
    local, _, domain = address.rpartition("@")
    if not (local and domain) or address not in to or any(c.isspace() for c in address):
        raise ValueError(f"not an email address: {to!r}")
    if not address.isascii():
        raise ValueError(f"internationalised addresses are not supported: {to!r}")
    return name, address


class _OneLine(Header):
    """A header kept on one line, whatever its length (RFC 5322 allows 998 characters): a link
    has nowhere to fold, and the generator would fold before it, onto a blank first line, which
    a reader takes as a leading space in the link."""

    def encode(
        self, splitchars: str = ";, \t", maxlinelen: int | None = None, linesep: str = "\n"
    ) -> str:
        return super().encode(splitchars, 0, linesep)  # 0: no limit


def build(
    message: Message, rendered: Rendered, sender: str, optout: str | None = None
) -> tuple[bytes, str]:
    """The email's bytes and its envelope recipient; ValueError for an address that cannot be
    sent to. Built with the compat32 classes (a quarter of `EmailMessage`'s cost, measured:
    emails are the notifier's hottest path, bench/README.md); every header is one line,
    non-ASCII encoded. The subject is given as a `Header` (named, so its first line counts
    "Subject: "), which the generator folds between encoded words: encoded to a string first,
    it was folded again as text, onto a blank first line, and mail clients read the subject with
    a leading space. `optout`: the subscription's opt-out link (an email to a person)."""
    name, to = recipient(message.to)
    mail = (
        MIMEText(rendered.text, "plain", "utf-8")
        if optout is None
        else _alternative(message, rendered, optout)
    )
    mail["From"] = sender
    mail["To"] = formataddr((_one_line(name), to), charset="utf-8")
    subject = Header(_one_line(rendered.subject or ""), "utf-8", header_name="Subject")
    mail["Subject"] = cast(str, subject)  # compat32 takes a Header (typeshed says str only)
    mail["Date"] = formatdate(time.time(), usegmt=True)
    mail["Message-ID"] = message_id(message, parseaddr(sender)[1])
    mail[MESSAGE_ID_HEADER] = _one_line(message.id)
    if optout is not None:
        unsubscribe = _OneLine(f"<{optout}>", header_name="List-Unsubscribe")
        mail["List-Unsubscribe"] = cast(str, unsubscribe)  # as the subject (see above)
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return mail.as_bytes(), to


# Each part of an email to a person: its headers as compat32's MIMEText writes them (without a
# MIME-Version: the message's own says it), its text in base64, as MIMEText encodes UTF-8.
_PART = 'Content-Type: text/{kind}; charset="utf-8"\nContent-Transfer-Encoding: base64\n\n'


def _alternative(message: Message, rendered: Rendered, optout: str) -> email.message.Message:
    """The text with the opt-out line at its foot, then the same as HTML: the bytes compat32's
    MIMEMultipart of two MIMEText parts makes (tests/unit/notifications/test_email_html.py),
    written here because its generator folds each part's headers as it does the message's,
    which doubled an email's cost (measured). Base64's alphabet has no "-": a boundary made of
    the message's digest cannot occur in the parts, so none has to be searched for."""
    line = footer(message.language, optout)
    ticket_url, number = message.data.get("ticket_url"), message.data.get("number")
    document = email_html.page(
        rendered.text,
        language=message.language,
        ticket_url=ticket_url if isinstance(ticket_url, str) else None,
        number=number if isinstance(number, str) else None,
        footer=line,
    )
    boundary = f"vq-alternative-{_digest(message)}"
    parts = (("plain", f"{rendered.text}\n\n{line}"), ("html", document))
    body = "\n".join(
        f"--{boundary}\n{_PART.format(kind=kind)}{body_encode(content.encode())}"
        for kind, content in parts
    )
    mail = email.message.Message()
    mail["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    mail["MIME-Version"] = "1.0"
    mail.set_payload(f"{body}\n--{boundary}--\n")
    return mail


class EmailSender:
    """Sends over a few SMTP sessions kept open between messages (a session per message cost
    five times as much, measured); a session the relay closed meanwhile is replaced, once."""

    def __init__(self, settings: Settings, *, sessions: int = POOL_SIZE) -> None:
        self._settings = settings
        self._envelope_from = parseaddr(settings.smtp_from)[1]
        # What we greet the relay as (EHLO): the sender's domain, as mail servers expect.
        self._hostname = self._envelope_from.rpartition("@")[2] or "localhost"
        self._idle: list[aiosmtplib.SMTP] = []
        self._sessions = sessions

    async def send(self, message: Message, rendered: Rendered | None) -> Sent:
        if rendered is None:
            raise DeliveryFailed("an email needs a rendered text", permanent=True)
        try:
            content, to = build(message, rendered, self._settings.smtp_from, self._optout(message))
        except ValueError as exc:
            raise DeliveryFailed(f"cannot build the email: {exc}", permanent=True) from exc
        started = time.monotonic()
        try:
            smtp, reply = await self._transmit(content, to)
        except (
            aiosmtplib.SMTPRecipientRefused,
            aiosmtplib.SMTPSenderRefused,
            aiosmtplib.SMTPDataError,
        ) as exc:
            sent = Sent(time.monotonic() - started, exc.code, exc.message[:2048])
            reason = f"SMTP {type(exc).__name__.removeprefix('SMTP')}: {exc.code} {exc.message}"
            raise DeliveryFailed(reason, permanent=500 <= exc.code < 600, sent=sent) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"SMTP: {type(exc).__name__}: {exc}") from exc
        seconds = time.monotonic() - started
        if len(self._idle) < self._sessions:
            self._idle.append(smtp)
        else:  # the relay has the message: a slow goodbye must not turn that into a failure
            await _quit(smtp)
        match = _QUEUED.search(reply.message)
        provider_id = match.group(1) if match else None
        return Sent(seconds, reply.code, reply.message[:2048], provider_id)

    def _optout(self, message: Message) -> str | None:
        """The opt-out link of a message to a person's subscription; None for the others (an
        alert to staff, an access email)."""
        if message.subscription_id is None:
            return None
        settings = self._settings
        return optout_url(settings.public_url, settings.token_secret, message.subscription_id)

    async def _transmit(
        self, content: bytes, to: str
    ) -> tuple[aiosmtplib.SMTP, aiosmtplib.SMTPResponse]:
        """One mail transaction up to the relay's answer to DATA, all within SECONDS, on a kept
        session (or a new one when none is idle or the kept one was closed by the relay)."""
        async with asyncio.timeout(SECONDS):
            while self._idle:
                smtp = self._idle.pop()
                try:
                    return smtp, await self._mail(smtp, content, to)
                except aiosmtplib.SMTPServerDisconnected:
                    smtp.close()  # it idled out: try the next, then a new one
            smtp = self._client()
            await smtp.connect()
            return smtp, await self._mail(smtp, content, to)

    async def _mail(
        self, smtp: aiosmtplib.SMTP, content: bytes, to: str
    ) -> aiosmtplib.SMTPResponse:
        try:
            await smtp.mail(self._envelope_from)
            await smtp.rcpt(to)
            return await smtp.data(content)
        except aiosmtplib.SMTPServerDisconnected:
            raise
        except BaseException:
            smtp.close()  # mid-transaction: this session is not reused
            raise

    def _client(self) -> aiosmtplib.SMTP:
        settings = self._settings
        return aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password,
            use_tls=settings.smtp_tls == "tls",
            start_tls=settings.smtp_tls == "starttls",
            timeout=SECONDS,
            # Named once, not looked up (socket.getfqdn on a thread) for every message.
            local_hostname=self._hostname,
        )

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for smtp in idle:
            await _quit(smtp)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        async with asyncio.timeout(QUIT_SECONDS):
            await smtp.quit()
    except (TimeoutError, aiosmtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()
