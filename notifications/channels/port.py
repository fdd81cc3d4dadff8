"""The port every channel adapter implements: send one rendered message, say what happened."""

from __future__ import annotations

from typing import Protocol

from notifications.messages import Message, Rendered, Sent


class Sender(Protocol):
    """Sends one message. Returns what the other side answered on success; raises
    `notifications.messages.DeliveryFailed` otherwise (never anything else for a failed send).
    Bounded in time: an adapter never waits longer than its own timeout."""

    async def send(self, message: Message, rendered: Rendered | None) -> Sent: ...

    async def aclose(self) -> None: ...
