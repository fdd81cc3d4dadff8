"""Stopping messages from the message itself, without a key or the ticket's token.

* An email's opt-out link (`List-Unsubscribe`, and the line at its foot; notifications/optout.py):
  a GET shows what it stops and a button (mail scanners fetch every link: a GET stops nothing);
  a POST stops it, whether a mailbox provider's RFC 8058 one-click POST
  (`List-Unsubscribe=One-Click`, no cookies, no credentials) or the page's button. Stopping twice
  is a 2xx both times. A link the deployment's secret did not make is a 404 that says nothing of
  anybody.
* Twilio's inbound-message webhook: a reply STOP (or another opt-out word) stops every live
  subscription of that number on that channel, in every organisation of the deployment (the
  sending number is the deployment's). Only a request signed with the provider's auth token
  (`X-Twilio-Signature`, over the public URL) is heard; anything else is a 403 that changes
  nothing. The answer is empty TwiML: Twilio sends the carrier's STOP confirmation itself.

A stop is what `DELETE .../subscriptions/{id}` does, logged like it (the request's line, and one
naming the subscriptions stopped); messages already on their way are dropped when sent.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import HTMLResponse, Response

from http_api.auth import permission
from http_api.deps import Services, ServicesDep
from http_api.problems import ProblemError, problem_responses
from notifications.optout import PATH, keyword, sender_channel, subscription_of
from notifications.store import optout
from notifications.twilio_signature import HEADER, form_params, signature_matches
from notifications_api.deps import NotificationsDep
from notifications_api.views import mask_phone
from web.optout import optout_page

log = logging.getLogger("vq.notifications.optout")

# Under the subscriptions' tag: stopping is a subscription's business (the app lists this router
# just before routes_subscriptions').
router = APIRouter(tags=["notifications: subscriptions"])

INBOUND_PATH = "/v1/sms/inbound"
# The link holds what stops the messages: no cache keeps it, no Referer carries it on.
_PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

Token = Annotated[
    str,
    Path(
        max_length=128,
        description="The opaque part of the opt-out link an email carries (its `List-Unsubscribe`)",
    ),
]
# Any body is taken, and none: a mailbox provider that strays from RFC 8058's exact words must
# still stop the messages (so the schema is "anything", and its example the RFC's body).
_ONE_CLICK_BODY: dict[str, Any] = {
    "required": False,
    "description": "RFC 8058's one-click body (`List-Unsubscribe=One-Click`), as a mailbox "
    "provider sends it; the page's button sends none. Not read: the POST itself stops the "
    "messages.",
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {},
            "example": {"List-Unsubscribe": "One-Click"},
        }
    },
}
_TWILIO_FIELDS = ("From", "To", "Body", "MessageSid", "AccountSid")
_INBOUND_BODY: dict[str, Any] = {
    "required": True,
    "description": "Twilio's inbound message webhook (every parameter it sends is signed).",
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["From", "Body"],
                "properties": {name: {"type": "string"} for name in _TWILIO_FIELDS},
            }
        }
    },
}


class TwimlResponse(Response):
    media_type = "text/xml"


def _unknown_link() -> ProblemError:
    return ProblemError("not-found", "this opt-out link is unknown")


async def _subscribed(svc: Services, notify: NotificationsDep, token: str) -> optout.Subscribed:
    """The subscription the link names; 404 for a link the secret did not make, or whose
    subscription is no more (the person's data erased)."""
    subscription_id = subscription_of(svc.settings.token_secret, token)
    found = None if subscription_id is None else await optout.find(notify.pool, subscription_id)
    if found is None:
        raise _unknown_link()
    return found


async def _page(svc: Services, found: optout.Subscribed, token: str, *, stopped: bool) -> str:
    """The page, naming the ticket as the person knows it and its queue (the queue's state: the
    notifier's last word on the number when the queue has forgotten a long finished ticket)."""
    state = await svc.queues.load(found.tenant_id, found.queue_id)
    ticket = state.tickets.get(found.ticket_id)
    number = ticket.number if ticket is not None else found.number or "-"
    queue = state.config.name or "-"
    return optout_page(found.language, number, queue, stopped=stopped, action=PATH + token)


@router.get(
    PATH + "{token}",
    response_class=HTMLResponse,
    responses=problem_responses("not-found"),
    summary="What an email's opt-out link stops, and a button that stops it (stops nothing)",
    openapi_extra=permission("public"),
)
async def show(token: Token, svc: ServicesDep, notify: NotificationsDep) -> HTMLResponse:
    found = await _subscribed(svc, notify, token)
    page = await _page(svc, found, token, stopped=found.cancelled)
    return HTMLResponse(page, headers=_PAGE_HEADERS)


@router.post(
    PATH + "{token}",
    response_class=HTMLResponse,
    # 400: a body declared JSON (or undeclared) that is not read one way (http_api/limits.py).
    responses=problem_responses("not-found", "malformed-request"),
    summary="Stop the messages of an email's opt-out link (RFC 8058 one-click; idempotent)",
    openapi_extra={**permission("public"), "requestBody": _ONE_CLICK_BODY},
)
async def stop(token: Token, svc: ServicesDep, notify: NotificationsDep) -> HTMLResponse:
    found = await _subscribed(svc, notify, token)
    if await optout.stop(notify.pool, found.subscription_id):
        log.info(
            "subscription stopped from its email's link",
            extra={"tenant": found.tenant_id, "subscription": found.subscription_id},
        )
    page = await _page(svc, found, token, stopped=True)
    return HTMLResponse(page, headers=_PAGE_HEADERS)


def inbound_url(public_url: str, query: str) -> str:
    """The URL Twilio signs: the public one configured in its console (and its query string)."""
    url = public_url.rstrip("/") + INBOUND_PATH
    return f"{url}?{query}" if query else url


@router.post(
    INBOUND_PATH,
    response_class=TwimlResponse,
    responses=problem_responses("signature-mismatch", "malformed-request"),
    summary="Twilio's inbound message webhook: a reply STOP stops that number's messages",
    openapi_extra={**permission("public"), "requestBody": _INBOUND_BODY},
)
async def inbound(
    request: Request,
    svc: ServicesDep,
    notify: NotificationsDep,
    signed: Annotated[
        str | None,
        Header(alias=HEADER, description="Twilio's signature of the request (its auth token)"),
    ] = None,
) -> TwimlResponse:
    settings = svc.settings
    params = form_params(await request.body())
    url = inbound_url(settings.public_url, request.url.query)
    if not signature_matches(settings.sms_auth_token or "", url, params, signed):
        raise ProblemError("signature-mismatch", f"the request's {HEADER} does not match")
    fields = dict(params)
    channel, number = sender_channel(fields.get("From", ""))
    said = keyword(fields.get("Body", ""))
    if said == "stop" and number:
        ended = await optout.stop_number(notify.pool, channel, number)
        log.info(
            "%s STOP from %s: %d subscription(s) stopped",
            channel,
            mask_phone(number),
            len(ended),
            extra={
                "subscriptions": [sid for _, sid in ended],
                "message_sid": fields.get("MessageSid"),
            },
        )
    elif said == "start":
        # Twilio lifts its block; subscribing again is done on the ticket's page.
        log.info("%s START from %s: nothing to do", channel, mask_phone(number))
    return TwimlResponse(_EMPTY_TWIML)
