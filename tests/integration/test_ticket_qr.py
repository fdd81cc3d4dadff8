"""A ticket's QR code (GET /v1/tickets/{id}/qr): the SVG of its page's address with its token,
for the ticket's own token or a caller who may take tickets, never cached, another tenant's a 404.

No QR decoder is installed: the answer is compared with what segno draws for the address the
code must carry (same error correction, quiet zone and colours), and checked to be one SVG.
"""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET

import segno

from core.settings import Settings
from core.tokens import ticket_token
from tests.integration.conftest import ApiClient

SVG_NS = "{http://www.w3.org/2000/svg}"


def _expected_svg(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        out, kind="svg", border=4, dark="#000", light="#fff", omitsize=True, xmldecl=True
    )
    return out.getvalue()


def _qr_path(ticket_id: str) -> str:
    return f"/v1/tickets/{ticket_id}/qr"


async def test_the_qr_code_carries_the_ticket_page_with_its_token(
    api: ApiClient, settings: Settings
) -> None:
    queue_id = await api.create_queue(name="Pharmacy")
    ticket = (await api.enqueue(queue_id, channel="kiosk"))["ticket"]
    ticket_id, token = ticket["ticket_id"], ticket["token"]
    assert token == ticket_token(settings.token_secret, ticket_id)
    url = f"{settings.public_url.rstrip('/')}/t/{ticket_id}#token={token}"

    by_token = await api.http.get(_qr_path(ticket_id), headers={"X-Ticket-Token": token})
    assert by_token.status_code == 200, by_token.text
    assert by_token.headers["content-type"].startswith("image/svg+xml")
    assert by_token.headers["cache-control"] == "no-store"
    assert by_token.content == _expected_svg(url)
    root = ET.fromstring(by_token.content)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox"), "scales to its box: a viewBox, no fixed size"
    # What segno would draw for any other address is another picture.
    assert by_token.content != _expected_svg(url.replace(token, "x" * len(token)))

    # A kiosk (and staff) may take tickets: they get the same code, the token computed.
    for role in ("kiosk", "staff", "admin"):
        by_key = await api.http.get(_qr_path(ticket_id), headers=api.auth(role))
        assert by_key.status_code == 200, (role, by_key.text)
        assert by_key.content == by_token.content
        assert by_key.headers["cache-control"] == "no-store"


async def test_who_may_not_have_the_qr_code(api: ApiClient, settings: Settings) -> None:
    queue_id = await api.create_queue()
    ticket = (await api.enqueue(queue_id))["ticket"]
    other = (await api.enqueue(queue_id))["ticket"]
    path = _qr_path(ticket["ticket_id"])

    nothing = await api.http.get(path)
    assert nothing.status_code == 401, nothing.text
    wrong = await api.http.get(path, headers={"X-Ticket-Token": other["token"]})
    assert wrong.status_code == 401, wrong.text
    assert wrong.headers["content-type"].startswith("application/problem+json")
    forged = await api.http.get(path, headers={"X-Ticket-Token": "not-a-token"})
    assert forged.status_code == 401, forged.text

    # A viewer reads tickets but may not take one: the QR carries a credential it must not get.
    viewer = await api.http.get(path, headers=api.auth("viewer"))
    assert viewer.status_code == 403, viewer.text

    # Another organisation's key: the ticket does not exist for it.
    elsewhere = await api.http.get(
        path, headers={"Authorization": f"Bearer {api.other_tenant_key}"}
    )
    assert elsewhere.status_code == 404, elsewhere.text
    assert "svg" not in elsewhere.text

    unknown = uuid.uuid4()
    missing = await api.http.get(_qr_path(str(unknown)), headers=api.auth("kiosk"))
    assert missing.status_code == 404, missing.text
    # A token that would open a ticket nobody took: no such ticket.
    never = await api.http.get(
        _qr_path(str(unknown)),
        headers={"X-Ticket-Token": ticket_token(settings.token_secret, str(unknown))},
    )
    assert never.status_code == 404, never.text
    bad_id = await api.http.get(_qr_path("not-a-uuid"), headers=api.auth("kiosk"))
    assert bad_id.status_code == 422, bad_id.text


async def test_the_route_is_documented_with_its_permissions(api: ApiClient) -> None:
    document = (await api.http.get("/openapi.json")).json()
    operation = document["paths"]["/v1/tickets/{ticket_id}/qr"]["get"]
    assert operation["x-permission"] == "ticket-token"
    assert operation["x-permission-bearer"] == "tickets:enqueue"
    assert "image/svg+xml" in operation["responses"]["200"]["content"]
    assert {"401", "403", "404"} <= set(operation["responses"])
