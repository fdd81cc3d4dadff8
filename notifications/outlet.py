"""Where due messages go: the channel's delivery topic (or a retry or dead-letter topic).

One idempotent producer (acks=all) per process, started on first use, so a process that never
sends (an API replica nobody asks for a test ping) holds no Kafka connection. `send` returns when
Kafka has every record; a Kafka that does not answer in time is `OutletUnavailable` (a 503 on the
HTTP side), and nothing was half-sent that a retry would not resend under the same ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from core.errors import Unavailable
from core.kafka_reconnects import pace_reconnects
from core.settings import Settings
from notifications.messages import ATTEMPT_HEADER, DUE_HEADER, ERROR_HEADER, Message

SEND_TIMEOUT_S = 10.0


Headers = list[tuple[str, bytes]]


def attempt_headers(
    attempt: int, due_at: datetime | None = None, error: str | None = None
) -> Headers:
    headers = [(ATTEMPT_HEADER, str(attempt).encode())]
    if due_at is not None:
        headers.append((DUE_HEADER, due_at.astimezone(UTC).isoformat().encode()))
    if error is not None:
        headers.append((ERROR_HEADER, error[:500].encode()))
    return headers


class OutletUnavailable(Unavailable):
    public_detail = "the message bus (Kafka) did not answer; try again shortly"


class Outlet:
    def __init__(self, settings: Settings, *, client_id: str = "vq-outlet") -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                pace_reconnects()  # a Kafka that is away is not asked every 100 ms
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.kafka_servers,
                    client_id=self._client_id,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    request_timeout_ms=int(SEND_TIMEOUT_S * 1000),
                )
                try:
                    await asyncio.wait_for(producer.start(), SEND_TIMEOUT_S)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await producer.stop()
                    raise OutletUnavailable(f"Kafka: {exc!r}") from exc
                self._producer = producer
            return self._producer

    async def send(
        self,
        messages: Sequence[Message],
        *,
        topic: str | None = None,
        attempt: int = 1,
        due_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Every message to its channel's topic (or `topic`), waiting until Kafka has them all."""
        headers = attempt_headers(attempt, due_at, error)
        await self.publish(
            [(topic or self._settings.deliveries_topic(m.channel), m, headers) for m in messages]
        )

    async def publish(self, records: Sequence[tuple[str, Message, Headers]]) -> None:
        """(topic, message, headers) records, waiting until Kafka has them all."""
        if not records:
            return
        producer = await self._started()
        try:
            futures = [
                await producer.send(topic, message.encode(), key=message.key, headers=headers)
                for topic, message, headers in records
            ]
            await asyncio.wait_for(asyncio.gather(*futures), SEND_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise OutletUnavailable(f"Kafka: {exc!r}") from exc

    async def aclose(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
