"""The channel adapters against real servers on loopback (tests/receivers): an SMTP server, a
provider speaking Twilio's Messages API, a strict web push service. No PostgreSQL, no Kafka."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from notifications.channels.email import EmailSender
from notifications.channels.push import MAX_PLAINTEXT, PushSender
from notifications.channels.sms import TwilioSender
from notifications.channels.vapid import application_server_key, key_path, vapid_keys
from notifications.messages import Channel, DeliveryFailed, Message, Rendered
from notifications.outbound import Guard, Outbound, OutboundFailed
from tests.integration.conftest import PROVIDER_SID, PROVIDER_TOKEN
from tests.integration.servers import free_port
from tests.receivers.provider import ProviderReceiver
from tests.receivers.push import PushReceiver
from tests.receivers.smtp import SmtpReceiver
from tests.receivers.webhook import Reply, WebhookReceiver

LOOPBACK = Guard.allowing(["127.0.0.0/8"])
SID, TOKEN = PROVIDER_SID, PROVIDER_TOKEN


def make_message(channel: Channel, to: str, topic: str = "called", **data: Any) -> Message:
    ticket_id = str(uuid.uuid4())
    return Message(
        id=f"{uuid.uuid4()}:{topic}:1",
        tenant_id=str(uuid.uuid4()),
        channel=channel,
        to=to,
        topic=topic,
        created_at=datetime.now(UTC),
        order_key=ticket_id,
        ticket_id=ticket_id,
        data=data,
    )


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, **overrides)


@pytest.fixture
async def outbound() -> AsyncIterator[Outbound]:
    client = Outbound(LOOPBACK)
    yield client
    await client.aclose()


# Email


async def test_an_email_arrives_with_its_subject_body_and_headers(
    smtp: SmtpReceiver, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, smtp_host=smtp.host, smtp_port=smtp.port, smtp_from="Queue <queue@vq.example>"
    )
    sender = EmailSender(settings)
    message = make_message("email", "Ada <ada@example.com>")
    rendered = Rendered("C'est à vous : guichet 3 — ticket Ä-12.", subject="Ticket Ä-12\r\ncalled")
    sent = await sender.send(message, rendered)
    again = await sender.send(message, rendered)  # an attempt whose answer was lost
    await sender.aclose()

    first, second = await smtp.wait_for(2)
    assert (sent.status, sent.provider_id) == (250, "VQTEST000001")
    assert (first.mail_from, first.rcpt_tos) == ("queue@vq.example", ("ada@example.com",))
    mail = first.message
    assert mail["From"] == "Queue <queue@vq.example>" and mail["To"] == "Ada <ada@example.com>"
    assert mail["Subject"] == "Ticket Ä-12 called"  # no header injection through a subject
    assert mail.get_content().strip() == rendered.text
    assert mail["X-VQ-Message-Id"] == message.id
    assert mail["Message-ID"].endswith("@vq.example>")
    assert second.message["Message-ID"] == mail["Message-ID"] and again.status == 250


async def test_a_refused_mailbox_is_permanent_and_a_deferred_one_is_not(
    smtp: SmtpReceiver, tmp_path: Path
) -> None:
    sender = EmailSender(make_settings(tmp_path, smtp_host=smtp.host, smtp_port=smtp.port))
    smtp.refuse("nobody@example.com")
    smtp.defer("later@example.com")
    with pytest.raises(DeliveryFailed) as refused:
        await sender.send(make_message("email", "nobody@example.com"), Rendered("hi", "hi"))
    assert refused.value.permanent and not refused.value.gone
    assert refused.value.sent is not None and refused.value.sent.status == 550
    with pytest.raises(DeliveryFailed) as deferred:
        await sender.send(make_message("email", "later@example.com"), Rendered("hi", "hi"))
    assert not deferred.value.permanent and "451" in deferred.value.reason
    for malformed in ("not an address", "ada@exa mple.com", "x\r\nBcc: eve@example.com", "a@"):
        with pytest.raises(DeliveryFailed) as failed:
            await sender.send(make_message("email", malformed), Rendered("hi", "hi"))
        assert failed.value.permanent, malformed
    assert smtp.messages == []


async def test_no_smtp_server_is_worth_a_retry(tmp_path: Path) -> None:
    sender = EmailSender(make_settings(tmp_path, smtp_port=free_port()))
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(make_message("email", "ada@example.com"), Rendered("hi", "hi"))
    assert not failed.value.permanent


# SMS and WhatsApp


def sms_settings(tmp_path: Path, provider: ProviderReceiver, token: str = TOKEN) -> Settings:
    return make_settings(
        tmp_path,
        sms_base_url=provider.url + "/",
        sms_account_sid=SID,
        sms_auth_token=token,
        sms_from="+15005550006",
        whatsapp_from="whatsapp:+14155238886",
    )


async def test_an_sms_and_a_whatsapp_message_arrive_as_twilio_expects(
    provider: ProviderReceiver, outbound: Outbound, tmp_path: Path
) -> None:
    settings = sms_settings(tmp_path, provider)
    sms = TwilioSender(settings, outbound, whatsapp=False)
    whatsapp = TwilioSender(settings, outbound, whatsapp=True)
    text = make_message("sms", "+447700900123")
    chat = make_message("whatsapp", "+447700900456")
    sent = await sms.send(text, Rendered("Your turn: counter 3 & smile"))
    await whatsapp.send(chat, Rendered("Bientôt à vous"))

    first, second = await provider.wait_for(2)
    assert (first.to, first.from_, first.body) == (
        "+447700900123", "+15005550006", "Your turn: counter 3 & smile",
    )  # fmt: skip
    assert (second.to, second.from_, second.body) == (
        "whatsapp:+447700900456", "whatsapp:+14155238886", "Bientôt à vous",
    )  # fmt: skip
    assert [m.idempotency_token for m in (first, second)] == [text.id, chat.id]
    assert sent.status == 201 and sent.provider_id == first.sid and first.sid.startswith("SM")


async def test_a_message_sent_twice_is_texted_once(
    provider: ProviderReceiver, outbound: Outbound, tmp_path: Path
) -> None:
    sender = TwilioSender(sms_settings(tmp_path, provider), outbound, whatsapp=False)
    message = make_message("sms", "+447700900123")
    first = await sender.send(message, Rendered("once"))
    second = await sender.send(message, Rendered("once"))
    assert len(provider.requests) == 2 and len(provider.messages) == 1
    assert first.provider_id == second.provider_id is not None


async def test_provider_failures_are_transient_or_permanent_and_never_show_the_token(
    provider: ProviderReceiver, outbound: Outbound, tmp_path: Path
) -> None:
    sender = TwilioSender(sms_settings(tmp_path, provider), outbound, whatsapp=False)
    failures: list[DeliveryFailed] = []
    for status, permanent in ((500, False), (429, False), (400, True)):
        provider.fail_next(1, status, code=21211, message="The 'To' number is not valid.")
        with pytest.raises(DeliveryFailed) as failed:
            await sender.send(make_message("sms", "+447700900123"), Rendered("hi"))
        assert failed.value.permanent is permanent, status
        failures.append(failed.value)
    assert "21211" in failures[-1].reason and "not valid" in failures[-1].reason

    wrong = "wrong-" + uuid.uuid4().hex
    unauthorised = TwilioSender(sms_settings(tmp_path, provider, wrong), outbound, whatsapp=False)
    with pytest.raises(DeliveryFailed) as refused:
        await unauthorised.send(make_message("sms", "+447700900123"), Rendered("hi"))
    # Wrong credentials are the operator's to fix: retried meanwhile, not dead-lettered.
    assert not refused.value.permanent and "20003" in refused.value.reason
    failures.append(refused.value)
    assert provider.messages == []
    for failure in failures:
        assert failure.sent is not None
        for text in (str(failure), failure.reason, failure.sent.excerpt, repr(failure.args)):
            assert TOKEN not in text and wrong not in text


async def test_a_provider_that_does_not_answer_is_worth_a_retry(
    outbound: Outbound, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, sms_base_url=f"http://127.0.0.1:{free_port()}", sms_auth_token=TOKEN
    )
    with pytest.raises(DeliveryFailed) as failed:
        await TwilioSender(settings, outbound, whatsapp=False).send(
            make_message("sms", "+447700900123"), Rendered("hi")
        )
    assert not failed.value.permanent and TOKEN not in str(failed.value)


# Web push


async def test_a_push_decrypts_to_what_was_sent_and_its_vapid_signature_verifies(
    push: PushReceiver, outbound: Outbound, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, vapid_subject="mailto:ops@vq.example")
    sender = PushSender(settings, outbound)
    subscription = push.subscribe()
    url = "https://queue.example/t/abc"
    called = make_message("push", subscription.json, "called", ticket_url=url)
    ahead = make_message("push", subscription.json, "ahead", ticket_url=url)
    sent = await sender.send(called, Rendered("Counter 3, please", subject="It's your turn"))
    await sender.send(ahead, Rendered("3 people ahead of you"))

    first, second = await push.wait_for(2)
    assert sent.status == 201
    assert json.loads(first.plaintext or b"") == {
        "title": "It's your turn", "body": "Counter 3, please", "url": url,
    }  # fmt: skip
    assert json.loads(second.plaintext or b"")["body"] == "3 people ahead of you"
    # The receiver verified the JWT against `k=`; `k=` is our public key.
    assert first.vapid_key == application_server_key(vapid_keys(settings))
    assert first.claims["sub"] == "mailto:ops@vq.example" and first.claims["aud"] == push.url
    assert (first.headers["urgency"], second.headers["urgency"]) == ("high", "normal")
    assert int(first.headers["ttl"]) > 0 and first.headers["content-encoding"] == "aes128gcm"


async def test_a_long_text_is_shortened_to_fit_one_push(
    push: PushReceiver, outbound: Outbound, tmp_path: Path
) -> None:
    sender = PushSender(make_settings(tmp_path), outbound)
    subscription = push.subscribe()
    await sender.send(make_message("push", subscription.json), Rendered("é" * 5000, "Hi"))
    [delivery] = await push.wait_for(1)
    assert delivery.plaintext is not None and len(delivery.plaintext) <= MAX_PLAINTEXT
    assert json.loads(delivery.plaintext)["body"].endswith("é…")


async def test_push_service_answers_gone_transient_or_permanent(
    push: PushReceiver, outbound: Outbound, tmp_path: Path
) -> None:
    sender = PushSender(make_settings(tmp_path), outbound)
    for status, permanent, gone in ((410, True, True), (404, True, True), (500, False, False),
                                    (429, False, False), (400, True, False)):  # fmt: skip
        subscription = push.subscribe()
        push.answer(subscription, status)
        with pytest.raises(DeliveryFailed) as failed:
            await sender.send(make_message("push", subscription.json), Rendered("hi"))
        assert (failed.value.permanent, failed.value.gone) == (permanent, gone), status
    for malformed in ("not json", '{"endpoint": "https://x.example/1"}', '{"keys": {}}'):
        with pytest.raises(DeliveryFailed) as failed:
            await sender.send(make_message("push", malformed), Rendered("hi"))
        assert failed.value.permanent and not failed.value.gone


def test_the_vapid_key_is_made_once_kept_private_and_configurable(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with ThreadPoolExecutor(8) as pool:  # processes starting at once agree on one key
        keys = list(pool.map(lambda _: application_server_key(vapid_keys(settings)), range(8)))
    assert len(set(keys)) == 1 and os.listdir(key_path(settings).parent) == ["private_key.pem"]
    made = vapid_keys(settings)
    assert stat.S_IMODE(os.stat(key_path(settings)).st_mode) == 0o600
    public = application_server_key(made)
    assert application_server_key(vapid_keys(settings)) == public
    assert len(public) == 87 and "=" not in public  # 65 bytes, base64url unpadded

    raw = made.private_numbers().private_value.to_bytes(32, "big")
    configured = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    elsewhere = make_settings(tmp_path / "other", vapid_private_key=configured)
    assert application_server_key(vapid_keys(elsewhere)) == public
    assert not key_path(elsewhere).exists()  # a configured key is not written anywhere


# The guard


async def test_a_destination_the_guard_refuses_is_permanent(
    provider: ProviderReceiver, push: PushReceiver, tmp_path: Path
) -> None:
    guarded = Outbound(Guard())  # public addresses only: our loopback receivers are not
    try:
        sms = TwilioSender(sms_settings(tmp_path, provider), guarded, whatsapp=False)
        with pytest.raises(DeliveryFailed) as texted:
            await sms.send(make_message("sms", "+447700900123"), Rendered("hi"))
        pusher = PushSender(make_settings(tmp_path), guarded)
        with pytest.raises(DeliveryFailed) as pushed:
            await pusher.send(make_message("push", push.subscribe().json), Rendered("hi"))
    finally:
        await guarded.aclose()
    assert texted.value.permanent and pushed.value.permanent and not pushed.value.gone
    assert provider.requests == [] and push.deliveries == []


# The webhook receiver itself (the webhook channel's tests build on it)


async def test_the_webhook_receiver_answers_as_scripted(outbound: Outbound) -> None:
    with WebhookReceiver() as hooks:
        hooks.fail("/flaky", times=2, status=500)
        hooks.gone("/old")
        hooks.stall("/slow")
        hooks.redirect("/moved", "http://127.0.0.1:1/elsewhere")
        hooks.script("/custom", Reply(503, b"busy"), then=Reply(204))
        statuses = [
            (await outbound.post(hooks.url_for(path), {"x-test": path}, path.encode())).status
            for path in ("/flaky", "/flaky", "/flaky", "/old", "/moved", "/custom", "/custom", "/")
        ]
        with pytest.raises(OutboundFailed):
            await outbound.post(hooks.url_for("/slow"), {}, b"", seconds=0.3)
        flaky = await hooks.wait_for(3, path="/flaky")
        assert [r.status for r in hooks.requests("/slow")] == [None]
    assert statuses == [500, 500, 200, 410, 302, 503, 204, 200]
    assert [r.body for r in flaky] == [b"/flaky"] * 3 and flaky[0].headers["x-test"] == "/flaky"
    assert flaky[0].at <= flaky[1].at <= flaky[2].at
