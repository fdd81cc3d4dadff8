"""`vq inbox`: the demo's receiver, so a newcomer sees the notifications the product sends.

One process, two doors: `POST /webhooks` takes webhooks (and checks their Standard Webhooks
signature with the secret in VQ_INBOX_WEBHOOK_SECRET), and an SMTP sink (aiosmtpd, on the
configured relay's address) takes emails. `GET /` shows what arrived, newest first;
`GET /messages.json` is the same as JSON. Only the last few hundred of each are kept, in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import html
import json
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from email.message import EmailMessage
from functools import cache
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING, Any

from core.settings import get_settings
from notifications.signing import InvalidSignature, verify

if TYPE_CHECKING:
    from starlette.applications import Starlette

KEPT = 500  # of each kind: memory stays bounded however long the demo runs
SHOWN = 100  # of each kind on the page (the JSON has all that is kept)
REFRESH_S = 5
SECRET_VARIABLE = "VQ_INBOX_WEBHOOK_SECRET"
_MAX_BODY = 256 * 1024
_MAX_TEXT = 4000
# What a webhook's line shows of its data, in this order (ids shortened).
_SUMMARY_KEYS = ("number", "ticket_id", "counter", "priority", "channel", "reason", "queue_id")
# Like our other pages: nothing loaded from elsewhere, no script at all (a meta refresh).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
}


@dataclass(frozen=True, slots=True)
class Webhook:
    at: str  # ISO-8601, local time with its offset
    webhook_id: str
    type: str
    summary: str
    verified: bool
    problem: str | None  # why it did not verify


@dataclass(frozen=True, slots=True)
class Email:
    at: str
    to: str
    subject: str
    text: str
    message_id: str  # X-VQ-Message-Id: the notification's id


class Inbox:
    """What arrived, bounded. The SMTP sink writes from its own thread, hence the lock."""

    def __init__(self, keep: int = KEPT) -> None:
        self._lock = threading.Lock()
        self._webhooks: deque[Webhook] = deque(maxlen=keep)
        self._emails: deque[Email] = deque(maxlen=keep)
        self._counts = {"webhooks": 0, "verified": 0, "not_verified": 0, "emails": 0}

    def add_webhook(self, webhook: Webhook) -> None:
        with self._lock:
            self._webhooks.append(webhook)
            self._counts["webhooks"] += 1
            self._counts["verified" if webhook.verified else "not_verified"] += 1

    def add_email(self, mail: Email) -> None:
        with self._lock:
            self._emails.append(mail)
            self._counts["emails"] += 1

    def snapshot(self) -> dict[str, Any]:
        """Counts since the start, and what is kept, newest first."""
        with self._lock:
            return {
                "counts": dict(self._counts),
                "webhooks": [asdict(w) for w in reversed(self._webhooks)],
                "emails": [asdict(e) for e in reversed(self._emails)],
            }


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def webhook_of(headers: dict[str, str], body: bytes, secret: str | None, now: int) -> Webhook:
    """What the inbox records of one request to `/webhooks`."""
    problem = None
    if secret is None:
        problem = f"no secret to check it with ({SECRET_VARIABLE} is not set)"
    else:
        try:
            verify(secret, headers, body, now)
        except (InvalidSignature, ValueError) as exc:
            problem = str(exc)
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        parsed = {"data": {"body": body[:200].decode("utf-8", "replace")}}
    data = parsed.get("data")
    return Webhook(
        at=_now(),
        webhook_id=headers.get("webhook-id", ""),
        type=str(parsed.get("type", "?")),
        summary=summary(data if isinstance(data, dict) else {"data": data}),
        verified=problem is None,
        problem=problem,
    )


def summary(data: dict[str, Any]) -> str:
    parts = []
    for key in _SUMMARY_KEYS:
        value = data.get(key)
        if value is None or value == "":
            continue
        text = str(value)[:8] if key.endswith("_id") else str(value)
        parts.append(f"{key.removesuffix('_id')} {text}")
    return (", ".join(parts) or json.dumps(data, default=str))[:200]


def email_of(rcpt_tos: Iterable[str], raw: bytes) -> Email:
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    part = mail.get_body(preferencelist=("plain",))
    try:
        text = part.get_content() if isinstance(part, EmailMessage) else ""
    except (LookupError, ValueError):
        text = ""
    return Email(
        at=_now(),
        to=", ".join(rcpt_tos) or str(mail.get("To", "")),
        subject=str(mail.get("Subject", "")),
        text=str(text).replace("\r\n", "\n")[:_MAX_TEXT],
        message_id=str(mail.get("X-VQ-Message-Id", "")),
    )


class _SmtpHandler:
    """aiosmtpd's handler: every message is accepted and kept."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        self._inbox.add_email(email_of(envelope.rcpt_tos, raw))
        return "250 2.0.0 Ok: kept by the demo inbox"


def create_app(inbox: Inbox, secret: str | None, smtp: tuple[str, int] | None = None) -> Starlette:
    """The inbox's HTTP side; with `smtp` (host, port), its lifespan runs the SMTP sink too."""
    from aiosmtpd.controller import Controller
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > _MAX_BODY:
            return Response(status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        inbox.add_webhook(webhook_of(headers, body, secret, int(time.time())))
        return Response(status_code=204)

    async def page(request: Request) -> Response:
        return HTMLResponse(render(inbox.snapshot(), smtp), headers=PAGE_HEADERS)

    async def messages(request: Request) -> Response:
        return JSONResponse(inbox.snapshot(), headers={"Cache-Control": "no-store"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if smtp is None:
            yield
            return
        # Its own thread and loop (aiosmtpd's way); a taken port stops the start, in one line.
        controller = Controller(
            _SmtpHandler(inbox), hostname=smtp[0], port=smtp[1], server_hostname="vq-inbox"
        )
        await asyncio.to_thread(controller.start)
        try:
            yield
        finally:
            await asyncio.to_thread(controller.stop)

    routes = [
        Route("/webhooks", receive, methods=["POST"]),
        Route("/", page, methods=["GET"]),
        Route("/messages.json", messages, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def render(snapshot: dict[str, Any], smtp: tuple[str, int] | None) -> str:
    counts = snapshot["counts"]
    webhooks = "".join(_webhook_html(w) for w in snapshot["webhooks"][:SHOWN])
    emails = "".join(_email_html(e) for e in snapshot["emails"][:SHOWN])
    where = f"SMTP {smtp[0]}:{smtp[1]}" if smtp else "no SMTP sink"
    return Template(_page("inbox.html")).substitute(
        refresh=REFRESH_S,
        webhook_count=counts["webhooks"],
        verified=counts["verified"],
        not_verified=counts["not_verified"],
        email_count=counts["emails"],
        smtp=html.escape(where),
        webhooks=webhooks or '<p class="empty">No webhook yet.</p>',
        emails=emails or '<p class="empty">No email yet.</p>',
        shown=SHOWN,
        kept=KEPT,
    )


def _webhook_html(hook: dict[str, Any]) -> str:
    e = html.escape
    badge = (
        '<span class="ok">signature verified</span>'
        if hook["verified"]
        else f'<span class="bad" title="{e(hook["problem"] or "")}">not verified</span>'
    )
    return (
        f'<article><div class="head"><b>{e(hook["type"])}</b> {badge}'
        f"<time>{e(hook['at'][11:19])}</time></div>"
        f'<div>{e(hook["summary"])}</div><div class="dim">{e(hook["webhook_id"])}</div></article>'
    )


def _email_html(mail: dict[str, Any]) -> str:
    e = html.escape
    return (
        f'<article><div class="head"><b>{e(mail["subject"] or "(no subject)")}</b>'
        f'<time>{e(mail["at"][11:19])}</time></div><div class="dim">to {e(mail["to"])}</div>'
        f"<pre>{e(mail['text'])}</pre></article>"
    )


@cache
def _page(name: str) -> str:
    return files("vq").joinpath(name).read_text(encoding="utf-8")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inbox = sub.add_parser(
        "inbox", help="a demo inbox: shows the webhooks and emails sent to it (runs until stopped)"
    )
    inbox.add_argument("--port", type=int, default=8025, help="its HTTP port (default 8025)")
    inbox.add_argument(
        "--no-smtp", action="store_true", help="no SMTP sink (emails go to a real relay)"
    )
    inbox.set_defaults(func=_inbox)


def _inbox(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    secret = os.environ.get(SECRET_VARIABLE) or None
    smtp = None if args.no_smtp else (settings.smtp_host, settings.smtp_port)
    app = create_app(Inbox(), secret, smtp)
    # uvicorn stops on SIGTERM and SIGINT: the lifespan's end stops the SMTP sink.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", access_log=False)
    return 0
