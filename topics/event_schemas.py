"""Every event schema in the schema registry, and the relay's use of the ids it hands out.

Subjects follow the TopicRecordNameStrategy, `<topic>-dev.vq.events.<Type>`: one topic carries
many event types, and each type's versions evolve on their own under BACKWARD compatibility (a
consumer with the newest schema reads every older version, which is the promise schemas/README.md
makes). Versions are registered oldest first, so the registry checks each against the ones before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Literal

from schemas import registry, wire
from topics import metrics
from topics.registry_client import RegistryClient, RegistryUnavailable, SchemaRefused

log = logging.getLogger("vq.relay.schemas")

COMPATIBILITY = "BACKWARD"
# How often a refused schema is tried again (an operator may have fixed the subject meanwhile).
RETRY_REFUSED_S = 10.0
WireFormat = Literal["plain", "confluent"]


def subject(topic: str, event_type: str) -> str:
    return f"{topic}-{registry.NAMESPACE}.{event_type}"


@dataclass
class Registration:
    ids: dict[tuple[str, int], int] = field(default_factory=dict)
    refused: dict[tuple[str, int], str] = field(default_factory=dict)


async def register_all(
    client: RegistryClient,
    topic: str,
    versions: Iterable[tuple[str, int]] | None = None,
    text: dict[tuple[str, int], str] | None = None,
) -> Registration:
    """Register each (type, version) shipped (or given) under its subject, with BACKWARD set
    first. A refused version is recorded with the registry's reason, and so is every newer
    version of that type (they would not be checked against it). `text` replaces a version's
    schema text (tests register an incompatible change this way)."""
    done = Registration()
    shipped = sorted(versions if versions is not None else registry.versions())
    for event_type, group in groupby(shipped, key=lambda pair: pair[0]):
        name = subject(topic, event_type)
        await client.set_compatibility(name, COMPATIBILITY)
        refusal: str | None = None
        for _, version in group:
            if refusal is not None:
                done.refused[event_type, version] = f"an older version was refused: {refusal}"
                continue
            schema = (text or {}).get((event_type, version))
            schema = schema or registry.schema_file(event_type, version).text
            try:
                done.ids[event_type, version] = await client.register(name, schema)
            except SchemaRefused as refused:
                refusal = str(refused)
                done.refused[event_type, version] = refusal
    return done


class SchemaHeldBack(Exception):
    """The registry refused the schema this event would be written with: it is not published."""


class Publication:
    """The relay's side of the registry: registers at the start of each leadership term and,
    in the Confluent format, frames each value with its schema's id.

    plain      registration is best effort (an unreachable registry is logged, values unframed)
    confluent  the registry must answer (else the relay pauses and retries, as for Kafka) and an
               event whose schema was refused is not published: it and every event after it wait
               (publishing past it would break a queue's order), reported and retried.
    """

    def __init__(
        self,
        client: RegistryClient,
        topic: str,
        wire_format: WireFormat,
        *,
        overrides: dict[tuple[str, int], str] | None = None,
    ) -> None:
        self._client = client
        self._topic = topic
        self.wire_format = wire_format
        self._overrides = overrides
        self.registration = Registration()
        self._tried_at = 0.0
        self._reported_at = 0.0
        self._background: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        """Register every schema: in the plain format in the background (publishing does not
        wait for the registry), in the Confluent format before anything is published."""
        if self.wire_format == "confluent":
            await self._register()
        elif self._background is None or self._background.done():
            self._background = asyncio.create_task(self._register_quietly())

    async def _register_quietly(self) -> None:
        """The plain format's registration: whatever fails is said, publishing never waits."""
        try:
            await self._register()
        except Exception as exc:  # a background task: nobody else would see it
            log.warning("event schemas not registered: %s", exc)

    async def _register(self) -> None:
        self._tried_at = time.monotonic()
        try:
            self.registration = await register_all(self._client, self._topic, text=self._overrides)
        except RegistryUnavailable as exc:
            if self.wire_format == "confluent":
                raise
            log.warning("event schemas not registered (%s); publishing plain Avro", exc)
            return
        except SchemaRefused as exc:  # the compatibility setting itself refused
            log.error("event schemas not registered: %s", exc)
            return
        for event_type, version in registry.versions():
            refused = (event_type, version) in self.registration.refused
            metrics.SCHEMA_REFUSED.labels(event_type).set(1 if refused else 0)
        for (event_type, version), reason in sorted(self.registration.refused.items()):
            log.error("schema %s v%d refused: %s", event_type, version, reason)
        log.info(
            "%d event schemas registered (%s, wire format %s)",
            len(self.registration.ids),
            COMPATIBILITY,
            self.wire_format,
        )

    async def aclose(self) -> None:
        """Stop a registration under way; the client is its owner's to close."""
        if self._background is not None and not self._background.done():
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background

    def value(self, event_type: str, version: int, body: bytes) -> bytes:
        """What the relay writes as the record's value."""
        if self.wire_format == "plain":
            return body
        key = (event_type, version)
        schema_id = self.registration.ids.get(key)
        if schema_id is None:
            reason = self.registration.refused.get(key, "not registered")
            raise SchemaHeldBack(f"{event_type} v{version}: {reason}")
        return wire.frame(schema_id, body)

    async def held_back(self, why: SchemaHeldBack) -> None:
        """Say (at most every RETRY_REFUSED_S) that publishing waits, and try registering again."""
        now = time.monotonic()
        if now - self._reported_at >= RETRY_REFUSED_S:
            self._reported_at = now
            log.error("relay holds back events from here on: %s", why)
        if now - self._tried_at >= RETRY_REFUSED_S:
            await self._register()
