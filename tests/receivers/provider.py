"""An SMS/WhatsApp provider on loopback speaking Twilio's Messages API, as far as we use it:

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json   (To, From, Body; form-encoded)

with HTTP Basic auth (account sid : auth token), Twilio's `I-Twilio-Idempotency-Token` (a token
seen before gets the first answer again, and no second message), 201 with the message resource,
and Twilio's error documents (`{"code", "message", "more_info", "status"}`).

    with ProviderReceiver(sid, token) as provider:
        settings = Settings(sms_base_url=provider.url, sms_account_sid=sid, sms_auth_token=token)
        provider.fail_next(2, 500)            # the next two requests get a 500
        provider.fail_next(1, 400, code=21211, message="The 'To' number is not valid.")
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.receivers import HttpReceiver, wait_until

_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One request as it came (also the refused ones)."""

    account_sid: str
    authorization: str | None
    idempotency_token: str | None
    form: dict[str, str]
    status: int  # what it was answered
    at: float


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A message the provider accepted (once per idempotency token)."""

    sid: str
    to: str
    from_: str
    body: str
    idempotency_token: str | None


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class ProviderReceiver(HttpReceiver):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._requests: list[ProviderRequest] = []
        self._messages: list[TextMessage] = []
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}  # idempotency token -> answer
        self._failures: deque[tuple[int, dict[str, Any]]] = deque()
        route = Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"])
        super().__init__(Starlette(routes=[route]))

    def fail_next(
        self, count: int, status: int, *, code: int = 20500, message: str = "Internal error"
    ) -> None:
        """Answer the next `count` requests with `status` and a Twilio error document."""
        with self.lock:
            self._failures.extend([(status, twilio_error(status, code, message))] * count)

    def clear_failures(self) -> None:
        """Answer as usual again: the failures `fail_next` queued and not yet given are dropped."""
        with self.lock:
            self._failures.clear()

    @property
    def requests(self) -> list[ProviderRequest]:
        with self.lock:
            return list(self._requests)

    @property
    def messages(self) -> list[TextMessage]:
        with self.lock:
            return list(self._messages)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[TextMessage]:
        await wait_until(lambda: len(self.messages) >= count, timeout, f"{count} message(s)")
        return self.messages

    async def _create(self, request: Request) -> Response:
        raw = parse_qs((await request.body()).decode(), keep_blank_values=True)
        form = {name: values[-1] for name, values in raw.items()}
        token = request.headers.get("i-twilio-idempotency-token")
        with self.lock:
            status, document = self._answer(request, form, token)
            self._requests.append(
                ProviderRequest(
                    request.path_params["sid"],
                    request.headers.get("authorization"),
                    token,
                    form,
                    status,
                    time.time(),
                )
            )
        return JSONResponse(document, status_code=status)

    def _answer(
        self, request: Request, form: dict[str, str], token: str | None
    ) -> tuple[int, dict[str, Any]]:
        """Called with the lock held."""
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if (
            request.path_params["sid"] != self.account_sid
            or request.headers.get("authorization") != f"Basic {expected}"
        ):
            return 401, twilio_error(401, 20003, "Authenticate")
        if self._failures:
            return self._failures.popleft()
        if token is not None and token in self._answers:
            return self._answers[token]
        for field in ("To", "From", "Body"):
            if not form.get(field):
                return 400, twilio_error(400, 21604, f"A '{field}' parameter is required.")
        if not _E164.match(form["To"]):
            return 400, twilio_error(400, 21211, f"The 'To' number {form['To']} is not valid.")
        answer = (201, self._accept(form, token))
        if token is not None:
            self._answers[token] = answer
        return answer

    def _accept(self, form: dict[str, str], token: str | None) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        self._messages.append(TextMessage(sid, form["To"], form["From"], form["Body"], token))
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form["From"],
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
