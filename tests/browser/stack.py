"""The live stack the browser tests drive: a real API process, the relay and a stream worker, on a
PostgreSQL schema, Kafka topics and a Redis prefix of their own (made as tests/conftest.py's
`settings` and `topics` fixtures make them, but kept for every browser test at once: starting it
costs seconds).

The API's `public_url` is its own base URL (links it builds, the tokens' issuer). The processes'
stderr goes to files, never to a pipe nobody reads (a long-lived chatty process would block on a
full one); what a process logged of an error is printed when the stack stops, and the whole log
when it dies while starting. `running_stack` waits until a command has gone through the relay and
the worker into the read models before it yields, so a test's first live assertion never waits
for a worker that is still joining its consumer group.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import httpx
import psycopg
from psycopg import sql

from access.directory import TenantDirectory
from access.passwords import hash_password
from access.permissions import ROLES
from access.users import insert_user
from core.settings import Settings
from eventstore.migrate import migrate
from eventstore.pool import open_pool
from eventstore.postgres import PostgresEventStore
from tests.conftest import fresh_settings
from tests.integration.servers import free_port, settings_env

START_TIMEOUT_S = 30.0
# A stream worker that just started takes seconds to join its consumer group (longer on a busy
# machine): the first command waits this long to reach the read models.
WARM_UP_TIMEOUT_S = 90.0
# Long enough that no policy check trips on it, and in no list of common passwords.
PASSWORD = "quiet lantern harbour 42"


def _settings(stack_env: dict[str, str], port: int, overrides: dict[str, Any]) -> Settings:
    return fresh_settings(stack_env, public_url=f"http://127.0.0.1:{port}", **overrides)


@contextmanager
def _schema(settings: Settings) -> Iterator[None]:
    migrate(settings.pg_url, settings.db_schema)
    try:
        yield
    finally:
        with psycopg.connect(settings.pg_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(settings.db_schema)
                )
            )


@asynccontextmanager
async def _topics(settings: Settings) -> AsyncIterator[None]:
    from aiokafka.admin import AIOKafkaAdminClient

    from deploy.topics import aensure_topics

    names = [settings.events_topic, settings.positions_topic, *settings.delivery_topics]
    await aensure_topics(settings, names, settings.kafka_partitions)
    try:
        yield
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
        await admin.start()
        try:
            prefixes = (settings.topic_prefix + ".", settings.topic_prefix + "-")
            mine = [t for t in await admin.list_topics() if t.startswith(prefixes)]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()
        shutil.rmtree(settings.data_dir / "faust" / settings.worker_group, ignore_errors=True)


class Service:
    """One `vq` process (api, relay, worker) on the stack's settings, its stderr in a file."""

    def __init__(self, settings: Settings, *args: str) -> None:
        self.name = args[0]
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vq.cli", *args],
            env=settings_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"`vq {self.name}` exited ({self.proc.returncode}):\n{self.log()}")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        text = self.log()
        if "Traceback" in text:
            print(f"`vq {self.name}` logged an error:\n{text[-8000:]}")
        self._log.close()


@dataclass(frozen=True, slots=True)
class Person:
    """A person of an organisation who signs in with email and password (staff, managers...)."""

    tenant_id: str
    user_id: str
    email: str
    password: str
    name: str
    role: str

    def login(self) -> dict[str, str]:
        """The body of POST /v1/auth/login."""
        return {"tenant_id": self.tenant_id, "email": self.email, "password": self.password}


class Tenant:
    """An organisation on the live stack, with an API key of every role (`keys[role]`)."""

    def __init__(self, stack: LiveStack, tenant_id: str, name: str, keys: dict[str, str]) -> None:
        self.stack, self.tenant_id, self.name, self.keys = stack, tenant_id, name, keys

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    async def person(
        self,
        role: str = "staff",
        *,
        email: str | None = None,
        name: str | None = None,
        password: str = PASSWORD,
        queues: tuple[str, ...] | None = None,
        language: str = "en",
    ) -> Person:
        """A verified, active person with this password (queues: a staff member's; None: all)."""
        email = email or f"{role}-{uuid.uuid4().hex[:8]}@clinic.example"
        name = name or f"{role.capitalize()} {email.split('@')[0][-4:].upper()}"
        hashed = await hash_password(password)
        async with self.stack.pool.connection() as conn:
            made = await insert_user(
                conn, tenant_id=self.tenant_id, email=email, name=name, role=role,
                queues=queues, language=language, password_hash=hashed, verified=True,
            )  # fmt: skip
        return Person(self.tenant_id, made.user_id, made.email, password, name, role)

    async def get(self, path: str, role: str = "admin", **params: Any) -> dict[str, Any]:
        """A read over HTTP with the key of `role`; its JSON answer (asserts a 200)."""
        answer = await self.stack.http.get(path, params=params, headers=self.auth(role))
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text}"
        return dict(answer.json())

    async def post(self, path: str, body: Any = None, role: str = "admin") -> dict[str, Any]:
        """A command over HTTP with the key of `role`; its JSON answer (asserts a 2xx)."""
        answer = await self.stack.http.post(path, json=body, headers=self.auth(role))
        assert answer.is_success, f"POST {path}: {answer.status_code} {answer.text}"
        return dict(answer.json()) if answer.content else {}

    async def create_queue(self, **body: Any) -> str:
        """A queue (defaults: "Front desk", counters 1-3), once the read models have it."""
        defaults = {"name": "Front desk", "counters": ["1", "2", "3"]}
        made = await self.post("/v1/queues", {**defaults, **body})
        await self.read_queue(made["queue_id"], made["stream_version"])
        return str(made["queue_id"])

    async def enqueue(self, queue_id: str, role: str = "admin", **body: Any) -> dict[str, Any]:
        """A ticket over HTTP (not waiting for the read side: the page under test shows it)."""
        return await self.post(f"/v1/queues/{queue_id}/tickets", body, role)

    async def read_queue(self, queue_id: str, min_version: int = 0) -> dict[str, Any]:
        """The queue's view once its read model reached `min_version`."""
        path = f"/v1/queues/{queue_id}"
        params = {"min_version": min_version, "wait": 25}
        deadline = time.monotonic() + WARM_UP_TIMEOUT_S
        while True:
            answer = await self.stack.http.get(path, params=params, headers=self.auth("viewer"))
            if answer.status_code == 200:
                return dict(answer.json())
            if answer.status_code != 409 or time.monotonic() > deadline:
                self.stack.check_alive()
                raise AssertionError(f"GET {path}: {answer.status_code} {answer.text}")
            await asyncio.sleep(0.2)


class LiveStack:
    """What a browser test gets: `url` (the API's base URL, also its public_url), `http` (an
    httpx client on it), `settings`, `pool` (PostgreSQL, the stack's schema) and `tenant()`."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, pool: Any) -> None:
        self.url, self.settings, self.http, self.pool = settings.public_url, settings, http, pool
        self.services: list[Service] = []
        self.directory = TenantDirectory(PostgresEventStore(pool))

    async def tenant(self, name: str = "Clinic") -> Tenant:
        """A new organisation with one API key of each role (admin ... viewer)."""
        tenant_id, admin = await self.directory.create_tenant(name)
        keys = {"admin": admin.secret}
        for role in ROLES:
            if role != "admin":
                keys[role] = (await self.directory.create_key(tenant_id, role, role)).secret
        return Tenant(self, tenant_id, name, keys)

    def check_alive(self) -> None:
        for service in self.services:
            service.check_alive()

    async def clock(self) -> datetime:
        """The API's time (GET /v1/clock): what a page must go by, whatever the browser's says."""
        answer = await self.http.get("/v1/clock")
        assert answer.status_code == 200, answer.text
        return datetime.fromisoformat(answer.json()["now"])


async def _healthy(url: str, api: Service) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(base_url=url, timeout=1) as http:
        while time.monotonic() < deadline:
            api.check_alive()
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the API at {url} did not answer in {START_TIMEOUT_S} s:\n{api.log()}")


@asynccontextmanager
async def running_stack(stack_env: dict[str, str], **overrides: Any) -> AsyncIterator[LiveStack]:
    """Schema, topics, then the API, relay and worker (`overrides`: other Settings); torn down
    in reverse order."""
    port = free_port()
    settings = _settings(stack_env, port, overrides)
    with _schema(settings):
        async with _topics(settings):
            pool = await open_pool(settings, min_size=1, max_size=4, wait=True)
            try:
                async with httpx.AsyncClient(base_url=settings.public_url, timeout=30) as http:
                    stack = LiveStack(settings, http, pool)
                    try:
                        await _start(stack, port)
                        yield stack
                    finally:
                        for service in stack.services:  # all at once: each takes a moment
                            service.terminate()
                        for service in stack.services:
                            service.stop()
            finally:
                await pool.close()


async def _start(stack: LiveStack, port: int) -> None:
    api = Service(stack.settings, "api", "--port", str(port))
    stack.services.append(api)
    stack.services.append(Service(stack.settings, "relay"))
    stack.services.append(Service(stack.settings, "worker", "--loglevel", "warning"))
    await _healthy(stack.url, api)
    # Through the relay and the worker once: the read side is up.
    await (await stack.tenant("Warm-up")).create_queue()
