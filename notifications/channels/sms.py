"""SMS and WhatsApp through a provider speaking Twilio's Messages API (Twilio itself, or anything
that imitates it), over outbound HTTP like any other request that leaves.

The message id goes as Twilio's idempotency token, so an attempt whose answer was lost and is
made again does not text the person twice. The auth token is a secret: it is in the
Authorization header and nowhere else (not in a reason, an excerpt or a log line).

A number that replied STOP is blocked by Twilio itself: a send to it is refused with error 21610
("Attempt to send to unsubscribed recipient"). That is permanent, and says the person opted out:
the delivery stage stops the number's subscriptions (`DeliveryFailed.opted_out`), as the STOP
itself would have (notifications_api/routes_optout.py), had it reached us.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from core.settings import Settings
from notifications.messages import DeliveryFailed, Message, Rendered, Sent
from notifications.outbound import Outbound, OutboundFailed, OutboundRefused

SECONDS = 10.0
WHATSAPP = "whatsapp:"
# A Twilio message's JSON can outgrow the excerpt Outbound keeps; its sid is near the start.
_SID = re.compile(r'"sid"\s*:\s*"([A-Za-z0-9]+)"')
OPTED_OUT = 21610  # Twilio: "Attempt to send to unsubscribed recipient"


class TwilioSender:
    def __init__(self, settings: Settings, outbound: Outbound, *, whatsapp: bool) -> None:
        self._outbound = outbound
        self._whatsapp = whatsapp
        self._sid = settings.sms_account_sid
        self._token = settings.sms_auth_token or ""
        self._from = settings.whatsapp_from if whatsapp else settings.sms_from
        base = settings.sms_base_url.rstrip("/")
        self._url = f"{base}/2010-04-01/Accounts/{quote(self._sid, safe='')}/Messages.json"

    def _address(self, number: str) -> str:
        if self._whatsapp and not number.startswith(WHATSAPP):
            return WHATSAPP + number
        return number

    async def send(self, message: Message, rendered: Rendered | None) -> Sent:
        if not self._token:
            raise DeliveryFailed("no provider auth token is configured (VQ_SMS_AUTH_TOKEN)")
        if rendered is None or not rendered.text.strip():
            raise DeliveryFailed("an SMS needs a text", permanent=True)
        credentials = base64.b64encode(f"{self._sid}:{self._token}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "I-Twilio-Idempotency-Token": message.id,
        }
        form = {
            "To": self._address(message.to),
            "From": self._address(self._from),
            "Body": rendered.text,
        }
        try:
            answer = await self._outbound.post(
                self._url, headers, urlencode(form).encode(), seconds=SECONDS
            )
        except OutboundRefused as exc:
            raise DeliveryFailed(self._redact(str(exc)), permanent=True) from None
        except OutboundFailed as exc:
            raise DeliveryFailed(self._redact(str(exc))) from None
        excerpt = self._redact(answer.excerpt.decode(errors="replace"))
        sent = Sent(answer.seconds, answer.status, excerpt, _sid(excerpt))
        if 200 <= answer.status < 300:
            return sent
        reason = f"provider answered {answer.status}: {_error(excerpt)}"
        # 401/403: the operator's credentials are wrong; worth retrying while they fix them.
        transient = answer.status in (401, 403, 429) or answer.status >= 500
        # A 3xx is not followed (Outbound): a misconfigured base URL, as permanent as a 4xx.
        opted_out = _json(excerpt).get("code") == OPTED_OUT
        raise DeliveryFailed(reason, permanent=not transient, opted_out=opted_out, sent=sent)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    async def aclose(self) -> None:
        """The outbound client is shared; whoever made it closes it."""


def _json(excerpt: str) -> dict[str, Any]:
    try:
        found = json.loads(excerpt)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _sid(excerpt: str) -> str | None:
    sid = _json(excerpt).get("sid")
    if isinstance(sid, str):
        return sid
    match = _SID.search(excerpt)
    return match.group(1) if match else None


def _error(excerpt: str) -> str:
    """Twilio's error code and message (`{"code": 21211, "message": "...", ...}`), else the
    start of whatever came back."""
    found = _json(excerpt)
    if "code" in found or "message" in found:
        return f"error {found.get('code')}: {found.get('message')}"
    return excerpt[:200] or "(no body)"
