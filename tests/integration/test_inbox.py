"""`vq inbox`, the demo's receiver, as a real process: webhooks (signed right or wrong) and emails
go in, and come out on its page and its JSON, newest first; SIGTERM stops both of its servers."""

from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from notifications.signing import new_secret, sign
from tests.integration.servers import free_port
from vq.inbox import Email, Inbox


@dataclass
class RunningInbox:
    url: str
    smtp_port: int
    secret: str
    proc: subprocess.Popen[bytes]

    def messages(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/messages.json", timeout=5).json())


@pytest.fixture
def inbox() -> Iterator[RunningInbox]:
    port, smtp_port, secret = free_port(), free_port(), new_secret()
    env = {
        **os.environ,
        "VQ_SMTP_HOST": "127.0.0.1",
        "VQ_SMTP_PORT": str(smtp_port),
        "VQ_INBOX_WEBHOOK_SECRET": secret,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "vq.cli", "inbox", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    running = RunningInbox(f"http://127.0.0.1:{port}", smtp_port, secret, proc)
    try:
        _wait_up(running)
        yield running
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _wait_up(running: RunningInbox, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.proc.poll() is not None:
            out, _ = running.proc.communicate()
            raise RuntimeError(f"vq inbox exited: {out.decode()[-2000:]}")
        try:
            if httpx.get(f"{running.url}/messages.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("vq inbox did not start")


def _post_webhook(running: RunningInbox, secret: str, message_id: str) -> httpx.Response:
    body = json.dumps(
        {
            "type": "TicketCalled",
            "timestamp": "2025-01-01T00:00:00Z",
            "data": {"ticket_id": "4f1c2d3e-0000", "counter": "2", "queue_id": "9a8b7c6d-0000"},
        }
    ).encode()
    headers = sign([secret], message_id, int(time.time()), body).as_dict()
    return httpx.post(
        f"{running.url}/webhooks",
        content=body,
        headers={**headers, "content-type": "application/json"},
        timeout=5,
    )


def test_a_rightly_signed_webhook_is_shown_as_verified(inbox: RunningInbox) -> None:
    assert _post_webhook(inbox, inbox.secret, "msg_right").status_code == 204

    got = inbox.messages()
    [hook] = got["webhooks"]
    assert hook["webhook_id"] == "msg_right"
    assert hook["type"] == "TicketCalled"
    assert hook["verified"] is True and hook["problem"] is None
    assert "counter 2" in hook["summary"] and "ticket 4f1c2d3e" in hook["summary"]
    assert got["counts"] == {"webhooks": 1, "verified": 1, "not_verified": 0, "emails": 0}


def test_a_wrongly_signed_webhook_is_shown_as_not_verified(inbox: RunningInbox) -> None:
    assert _post_webhook(inbox, inbox.secret, "msg_first").status_code == 204
    assert _post_webhook(inbox, new_secret(), "msg_forged").status_code == 204

    got = inbox.messages()
    newest, oldest = got["webhooks"]
    assert (newest["webhook_id"], oldest["webhook_id"]) == ("msg_forged", "msg_first")
    assert newest["verified"] is False
    assert newest["problem"] == "no signature matches"
    assert got["counts"]["not_verified"] == 1


def test_an_email_sent_over_smtp_is_shown(inbox: RunningInbox) -> None:
    mail = EmailMessage()
    mail["From"] = "Virtual Queue <queue@localhost>"
    mail["To"] = "person7@demo.example"
    mail["Subject"] = "It's your turn at counter 2"
    mail["X-VQ-Message-Id"] = "msg_email_1"
    mail.set_content("Please go to counter 2.\nThank you.")
    with smtplib.SMTP("127.0.0.1", inbox.smtp_port, timeout=5) as smtp:
        smtp.send_message(mail)

    [shown] = inbox.messages()["emails"]
    assert shown["to"] == "person7@demo.example"
    assert shown["subject"] == "It's your turn at counter 2"
    assert shown["text"] == "Please go to counter 2.\nThank you.\n"
    assert shown["message_id"] == "msg_email_1"


def test_the_page_is_html_under_a_strict_policy_and_escapes_what_arrived(
    inbox: RunningInbox,
) -> None:
    body = json.dumps({"type": "<script>alert(1)</script>", "data": {}}).encode()
    httpx.post(f"{inbox.url}/webhooks", content=body, timeout=5)

    page = httpx.get(f"{inbox.url}/", timeout=5)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "<script" not in page.text  # escaped, and the page has none of its own
    assert "&lt;script&gt;" in page.text
    assert 'http-equiv="refresh"' in page.text
    assert "1 webhooks (0 verified, 1 not verified)" in " ".join(page.text.split())


def test_sigterm_stops_both_servers(inbox: RunningInbox) -> None:
    inbox.proc.terminate()
    out, _ = inbox.proc.communicate(timeout=15)

    assert "Application shutdown complete" in out.decode()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", inbox.smtp_port), timeout=2),
    ):
        pass


def test_only_the_latest_are_kept() -> None:
    kept = Inbox(keep=3)
    for n in range(5):
        kept.add_email(Email(at="", to=f"p{n}@x.example", subject="", text="", message_id=""))

    got = kept.snapshot()
    assert [e["to"] for e in got["emails"]] == ["p4@x.example", "p3@x.example", "p2@x.example"]
    assert got["counts"]["emails"] == 5
