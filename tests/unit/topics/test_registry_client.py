"""The registry client and the relay's use of it, against a tiny in-process Confluent API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from schemas import registry, wire
from topics.event_schemas import Publication, SchemaHeldBack, register_all, subject
from topics.registry_client import RegistryClient, RegistryUnavailable, SchemaRefused


class _Registry:
    """Confluent's answers, just enough: ids by content, 409 for what `refuse` names."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.ids: dict[str, int] = {}
        self.config: dict[str, str] = {}
        self.order: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/apis/ccompat/v7")
        if request.method == "PUT" and path.startswith("/config/"):
            self.config[path.removeprefix("/config/")] = json.loads(request.content)[
                "compatibility"
            ]
            return httpx.Response(200, json=json.loads(request.content))
        if request.method == "POST" and path.endswith("/versions"):
            name = path.split("/")[2]
            schema = json.loads(request.content)["schema"]
            if self.refuse and self.refuse in schema:
                return httpx.Response(409, json={"error_code": 409, "message": "incompatible"})
            self.order.append(name)
            return httpx.Response(200, json={"id": self.ids.setdefault(schema, len(self.ids) + 1)})
        return httpx.Response(500, text="boom")


def _client(handler: Any) -> RegistryClient:
    return RegistryClient(
        "http://registry.test/apis/ccompat/v7", transport=httpx.MockTransport(handler)
    )


async def test_every_version_is_registered_oldest_first_with_backward() -> None:
    fake = _Registry()
    done = await register_all(_client(fake), "vq.queue-events")
    assert set(done.ids) == set(registry.versions()) and not done.refused
    name = subject("vq.queue-events", "TicketEnqueued")
    assert name == "vq.queue-events-dev.vq.events.TicketEnqueued"
    assert fake.config[name] == "BACKWARD"
    assert done.ids["TicketEnqueued", 1] < done.ids["TicketEnqueued", 2]


async def test_a_refused_version_refuses_the_newer_ones_too() -> None:
    broken = {("TicketEnqueued", 1): '{"type": "string", "refuse-me": 1}'}
    fake = _Registry(refuse="refuse-me")
    done = await register_all(_client(fake), "t", text=broken)
    assert "409" in done.refused["TicketEnqueued", 1]
    assert "an older version was refused" in done.refused["TicketEnqueued", 2]
    assert ("QueueCreated", 2) in done.ids


async def test_confluent_values_are_framed_and_refused_types_held_back() -> None:
    fake = _Registry(refuse="TicketCalled")
    schemas = Publication(_client(fake), "t", "confluent")
    await schemas.prepare()
    framed = schemas.value("QueueCreated", 2, b"body")
    assert wire.unframe(framed) == (schemas.registration.ids["QueueCreated", 2], b"body")
    with pytest.raises(SchemaHeldBack, match="TicketCalled v1"):
        schemas.value("TicketCalled", 1, b"body")


async def test_plain_values_are_left_alone_even_without_a_registry() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    schemas = Publication(_client(down), "t", "plain")
    await schemas.prepare()
    await schemas.aclose()
    assert schemas.value("QueueCreated", 2, b"body") == b"body"


async def test_the_confluent_format_needs_the_registry() -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"message": "starting"})

    with pytest.raises(RegistryUnavailable, match="503 starting"):
        await Publication(_client(failing), "t", "confluent").prepare()


async def test_refusals_name_the_subject() -> None:
    fake = _Registry(refuse="x")
    with pytest.raises(SchemaRefused) as refused:
        await _client(fake).register("s-value", '"x"')
    assert refused.value.subject == "s-value" and refused.value.status == 409


async def test_a_registration_that_raced_another_is_asked_again_and_a_refusal_is_not() -> None:
    """Apicurio answers 409 "already exists" to a registration racing another of its subject;
    asked again it answers the id. A 409 for an incompatible schema stays a refusal."""
    fake = _Registry()
    raced = {"left": 1}

    def racing(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and raced["left"]:
            raced["left"] -= 1
            message = "An artifact with ID 'x' in group 'null' already exists."
            return httpx.Response(409, json={"error_code": 409, "message": message})
        return fake(request)

    client = _client(racing)
    assert await client.register("s", '{"type": "string"}') == 1
    assert raced["left"] == 0
    with pytest.raises(SchemaRefused, match="incompatible"):
        await _client(_Registry(refuse="refuse-me")).register("s", '{"refuse-me": 1}')

    def always(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"message": "An artifact already exists."})

    with pytest.raises(SchemaRefused, match="already exists"):  # not forever
        await _client(always).register("s", '{"type": "string"}')
