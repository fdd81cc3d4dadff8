"""The notifications phase's far ends: a webhook receiver and an SMTP server, each a process.

    python -m bench.receivers webhook PORT      # HTTP/1.1, keep-alive, records `webhook-id`
    python -m bench.receivers smtp PORT         # aiosmtpd, records `X-VQ-Message-Id`

Each records, per request, the message id, when it arrived (`time.monotonic()`: one clock for
every process on Linux, so it compares with the generator's event times) and what it answered.
They are processes of their own so their CPU is measured apart and their event loops do not
delay the pipeline's. The benchmark drives them with one-line commands on stdin, each answered
with one JSON line on stdout:

    fail 0.1    answer 500 to this share of the requests from now on (webhook only)
    count       {"ok": distinct ids answered 2xx, "requests": requests} since the last dump
    dump        {"seen": [[id, at, status], ...]} since the last dump, then forget them
    quit
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

_SMTP_ID = re.compile(rb"^X-VQ-Message-Id:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)
_ANSWERS = {
    200: b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok",
    500: b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n"
    b"content-length: 4\r\n\r\nfail",
}


class Record:
    """What arrived since the last dump. Touched only on the receiver's event loop."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float, int]] = []
        self.ok: set[str] = set()
        self.fail_share = 0.0
        self.random = random.Random(7)

    def note(self, ident: str, at: float, status: int) -> None:
        self.seen.append((ident, at, status))
        if status < 300:
            self.ok.add(ident)

    async def command(self, line: str) -> dict[str, Any]:
        verb, _, arg = line.partition(" ")
        if verb == "fail":
            self.fail_share = float(arg)
            return {"fail_share": self.fail_share}
        if verb == "count":
            return {"ok": len(self.ok), "requests": len(self.seen)}
        if verb == "dump":
            seen, self.seen, self.ok = self.seen, [], set()
            return {"seen": seen}
        return {"error": f"unknown command {line!r}"}


# -- webhook: a minimal HTTP/1.1 server (the far end should cost less than the sender) -----------


async def _http_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: Record
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length, ident = 0, ""
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    ident = value.strip().decode()
            if length:
                await reader.readexactly(length)
            failed = record.fail_share > 0 and record.random.random() < record.fail_share
            status = 500 if failed else 200
            record.note(ident, time.monotonic(), status)
            writer.write(_ANSWERS[status])
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _webhook(port: int, record: Record, ready: Callable[[], None]) -> None:
    server = await asyncio.start_server(
        lambda r, w: _http_connection(r, w, record), "127.0.0.1", port, backlog=1024
    )
    ready()
    async with server:
        await server.serve_forever()


# -- SMTP: aiosmtpd, as a real relay would be reached ------------------------------------------


class _SmtpHandler:
    def __init__(self, record: Record) -> None:
        self.record = record

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        match = _SMTP_ID.search(bytes(envelope.original_content or envelope.content)[:4096])
        self.record.note(match[1].decode() if match else "", time.monotonic(), 250)
        return "250 2.0.0 Ok: queued"


def _control(
    loop: asyncio.AbstractEventLoop, command: Callable[[str], Coroutine[Any, Any, Any]]
) -> None:
    """Read commands on stdin (this thread) and run each on the receiver's loop."""
    for raw in sys.stdin:
        line = raw.strip()
        if line == "quit":
            break
        if not line:
            continue
        answer = asyncio.run_coroutine_threadsafe(command(line), loop).result()
        sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def _say_ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def main() -> int:
    import uvloop

    kind, port = sys.argv[1], int(sys.argv[2])
    record = Record()
    if kind == "smtp":
        from aiosmtpd.controller import Controller

        loop = uvloop.new_event_loop()
        controller = Controller(_SmtpHandler(record), hostname="127.0.0.1", port=port, loop=loop)
        controller.start()  # serves on a thread of its own, on `loop`
        _say_ready()
        try:
            _control(loop, record.command)
        finally:
            controller.stop()
        return 0
    loop = uvloop.new_event_loop()
    started = threading.Event()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(_webhook(port, record, started.set)), daemon=True
    )
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the webhook receiver did not start")
    _say_ready()
    _control(loop, record.command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
