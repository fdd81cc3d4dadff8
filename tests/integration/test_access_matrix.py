"""Acceptance 3 of the access issue: every route of `/openapi.json`, called by every role (an API
key of each) and by a person (an access token), of its own tenant and of another: 0 mismatches
with the permission table (access/permissions.py) and the permission each route declares.

Expected, per route and caller:
* the route's role holds the declared permission -> anything but 401 / 403 (the body we send may
  still be a 422, a resource may be in another state: a 409, but never "not allowed");
* it does not -> 403 (a "self" route called with a key: 403; the operator's route: 401);
* no credentials at all -> 401 unless the route is public;
* another tenant's admin on this tenant's resource (a path id) -> 404.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from access.directory import TenantDirectory
from access.permissions import OPERATOR, PERSON_ROLES, PUBLIC, ROLES, SELF, TICKET_TOKEN, holds
from access.sessions import Sessions
from access.tokens import AccessTokens
from access.users import User, insert_user
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers

Pool = AsyncConnectionPool[Any]
# Bodies that are valid for the routes that take one, so another tenant's call reaches the
# lookup that answers 404 (a body refused first would answer 422).
BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/queues"): {"name": "Matrix"},
    ("post", "/v1/tenants"): {"name": "Matrix"},
    ("patch", "/v1/users/{user_id}"): {"name": "Matrix"},
    ("post", "/v1/queues/{queue_id}/call-next"): {"counter": "1"},
    ("post", "/v1/queues/{queue_id}/breaks"): {"counter": "1", "ends_at": "2030-01-01T00:00:00Z"},
    ("post", "/v1/queues/{queue_id}/breaks/end"): {"counter": "1"},
    ("post", "/v1/tickets/{ticket_id}/call"): {"counter": "1", "reason": "matrix"},
    ("post", "/v1/tickets/{ticket_id}/priority"): {"priority": "standard", "reason": "matrix"},
    ("post", "/v1/tickets/{ticket_id}/transfer"): {"to_queue_id": "@queue_b"},
    # Nothing to close, and the ticket moves at most once: the other routes still find it.
    ("post", "/v1/queues/{queue_id}/clone"): {"name": "Matrix copy"},
    ("post", "/v1/queues/{queue_id}/merge"): {"to_queue_id": "@queue_b", "close": False},
    ("post", "/v1/queues/{queue_id}/split"): {"to_queue_id": "@queue_b", "service_types": ["x"]},
    ("post", "/v1/tickets/{ticket_id}/subscriptions"): {
        "channel": "email",
        "address": "m@example.com",
    },
    ("post", "/v1/webhooks/endpoints/{endpoint_id}/replay"): {"message_id": "msg_x"},
    ("put", "/v1/queues/{queue_id}/notification-settings"): {},
    ("post", "/v1/queues/{queue_id}/appointments"): {"slot_at": "2031-01-06T10:00:00+00:00"},
    ("post", "/v1/appointments/{appointment_id}/reschedule"): {
        "slot_at": "2031-01-06T11:00:00+00:00"
    },
}


@dataclass
class Caller:
    name: str
    role: str
    person: bool
    secret: Callable[[], Awaitable[str]]


@dataclass
class World:
    ids: dict[str, str]
    callers: list[Caller]
    other_admin: str  # tenant B's admin key
    mismatches: list[str] = field(default_factory=list)
    calls: int = 0


def _path(template: str, ids: dict[str, str]) -> tuple[str, bool]:
    """The path with this tenant's ids filled in; whether every id is a real resource."""
    path, real = template, True
    while "{" in path:
        name = path[path.index("{") + 1 : path.index("}")]
        value = ids.get(name)
        real = real and value is not None
        path = path.replace("{" + name + "}", value or str(uuid.uuid4()))
    return path, real


def _body(method: str, template: str, ids: dict[str, str]) -> Any:
    body = BODIES.get((method, template))
    if isinstance(body, dict):
        return {k: ids[v[1:]] if isinstance(v, str) and v.startswith("@") else v
                for k, v in body.items()}  # fmt: skip
    return body


# The problems access control answers with (others, such as a closed sign-up or a failed
# single sign-on, are what the route itself decided, after letting the caller in).
REFUSALS = {"unauthorized", "forbidden", "mfa-enrolment-required"}


async def _call(
    http: httpx.AsyncClient, method: str, path: str, secret: str | None, body: Any
) -> str:
    """The answer's status and, for an access refusal, its problem: "403 forbidden", "200"."""
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    # Streams (SSE) answer their status first: read it, then hang up.
    async with http.stream(method.upper(), path, **kwargs) as response:
        status = response.status_code
        if status not in (401, 403):
            return str(status)
        problem = str(json.loads(await response.aread()).get("type", "")).rsplit("/", 1)[-1]
        return f"{status} {problem}" if problem in REFUSALS else str(status)


def _refused(answer: str) -> bool:
    return " " in answer


def _allowed(declared: str, bearer: str | None, role: str, person: bool) -> bool:
    if declared == PUBLIC:
        return True
    if declared == OPERATOR:
        return False  # only the deployment's operator key
    if declared == SELF:
        return person
    if declared == TICKET_TOKEN:
        return holds(role, bearer or "read")
    return holds(role, declared)


def _check(where: str, answer: str, allowed: bool, declared: str) -> str | None:
    """A mismatch between an answer and what the table says, or None."""
    if allowed:
        return f"{where}: {answer}, expected allowed" if _refused(answer) else None
    want = "401 unauthorized" if declared == OPERATOR else "403 forbidden"
    return None if answer == want else f"{where}: {answer}, expected {want}"


async def _walk(world: World, http: httpx.AsyncClient, doc: dict[str, Any]) -> None:
    for template, operations in doc["paths"].items():
        for method, operation in operations.items():
            declared = operation.get("x-permission")
            where = f"{method.upper()} {template}"
            if declared is None:
                world.mismatches.append(f"{where}: declares no x-permission")
                continue
            bearer = operation.get("x-permission-bearer")
            path, real = _path(template, world.ids)
            body = _body(method, template, world.ids)
            for caller in world.callers:
                answer = await _call(http, method, path, await caller.secret(), body)
                world.calls += 1
                allowed = _allowed(declared, bearer, caller.role, caller.person)
                found = _check(f"{where} as {caller.name}", answer, allowed, declared)
                if found:
                    world.mismatches.append(found)
            anonymous = await _call(http, method, path, None, body)
            world.calls += 1
            if declared != PUBLIC and not anonymous.startswith("401"):
                world.mismatches.append(f"{where} without credentials: {anonymous}, expected 401")
            if declared not in (PUBLIC, OPERATOR, SELF) and real and "{" in template:
                answer = await _call(http, method, path, world.other_admin, body)
                world.calls += 1
                if answer != "404":
                    world.mismatches.append(f"{where} by another tenant: {answer}, expected 404")


async def _resources(http: httpx.AsyncClient, admin: str) -> dict[str, str]:
    """One of each thing a path can name, in tenant A."""
    auth = {"Authorization": f"Bearer {admin}"}

    async def made(path: str, body: Any, key: str, method: str = "POST") -> str:
        response = await http.request(method, path, json=body, headers=auth)
        assert response.status_code in (200, 201), f"{path}: {response.text}"
        return str(response.json()[key])

    queue_a = await made("/v1/queues", {"name": "A", "counters": ["1", "2"]}, "queue_id")
    queue_b = await made("/v1/queues", {"name": "B", "counters": ["1"]}, "queue_id")
    enqueued = await http.post(f"/v1/queues/{queue_a}/tickets", json={}, headers=auth)
    ticket = enqueued.json()["ticket"]
    ids = {"queue_id": queue_a, "queue_b": queue_b, "ticket_id": ticket["ticket_id"]}
    path = f"/v1/tickets/{ticket['ticket_id']}/subscriptions"
    ids["subscription_id"] = await made(
        path, {"channel": "email", "address": "a@example.com"}, "subscription_id"
    )
    ids["endpoint_id"] = await made(
        "/v1/webhooks/endpoints", {"url": "https://hooks.example.com/vq"}, "endpoint_id"
    )
    template = {"topic": "ahead", "channel": "sms", "language": "en", "body": "{{ number }}"}
    ids["template_id"] = await made("/v1/templates", template, "template_id", "PUT")
    alert = {"condition": "delivery_failures", "channel": "email", "address": "it@example.com"}
    ids["alert_id"] = await made("/v1/alerts", alert, "alert_id")
    schedule = {
        "queue_id": queue_a,
        "kind": "announcement",
        "recurrence": "daily",
        "local_time": "09:00",
        "time_zone": "UTC",
        "text": "We open at nine",
    }
    ids["schedule_id"] = await made("/v1/schedules", schedule, "schedule_id")
    ids["key_id"] = await made("/v1/keys", {"name": "victim", "role": "viewer"}, "key_id")
    ids["code"] = "not-found"
    bookable = await made(
        "/v1/queues",
        {"name": "Bookings", "site": "Matrix site", "appointments": {"early_minutes": 1440}},
        "queue_id",
    )
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    booking = {"slot_at": slot.isoformat()}
    ids["appointment_id"] = await made(
        f"/v1/queues/{bookable}/appointments", booking, "appointment_id"
    )
    ids["site"] = "Matrix site"
    return ids


def _key(secret: str) -> Callable[[], Awaitable[str]]:
    async def given() -> str:
        return secret

    return given


async def _people(settings: Settings, pool: Pool, tenant_id: str) -> list[Caller]:
    """A person of each role, each call with a fresh session (a call may sign it out)."""
    redis = aioredis.Redis.from_url(settings.redis_dsn)
    tokens, sessions = AccessTokens(pool, redis, settings), Sessions(pool, settings)
    callers = []
    for role in PERSON_ROLES:
        async with pool.connection() as conn:
            user = await insert_user(
                conn, tenant_id=tenant_id, email=f"{role}@clinic.example", name=role, role=role,
                verified=True,
            )  # fmt: skip

        async def fresh(user: User = user) -> str:
            grant = await sessions.start(tenant_id=tenant_id, user_id=user.user_id, mfa=True)
            token, _ = await tokens.issue(
                tenant_id=tenant_id, user_id=user.user_id, role=user.role,
                session_id=grant.session_id, mfa=True, queues=None,
            )  # fmt: skip
            return token

        callers.append(Caller(f"{role} (person)", role, True, fresh))
    return callers


async def test_every_route_every_role_own_and_other_tenant(
    settings: Settings, store: PostgresEventStore, pool: Pool
) -> None:
    # ~1,100 calls from one address: the rate limits are not what this test is about.
    settings = settings.model_copy(update={"signup_open": True, "rate_limit_per_minute": 100_000})
    directory = TenantDirectory(store)
    tenant_a, admin = await directory.create_tenant("Clinic")
    callers = [Caller(f"{ROLES[0]} key", ROLES[0], False, _key(admin.secret))]
    for role in ROLES[1:]:
        secret = (await directory.create_key(tenant_a, role, role)).secret
        callers.append(Caller(f"{role} key", role, False, _key(secret)))
    callers += await _people(settings, pool, tenant_a)
    _, other = await directory.create_tenant("Bank")
    with api_servers(settings, 1) as urls:
        async with httpx.AsyncClient(base_url=urls[0], timeout=30) as http:
            ids = await _resources(http, admin.secret)
            async with pool.connection() as conn:
                victim = await insert_user(
                    conn, tenant_id=tenant_a, email="victim@clinic.example", name="Victim",
                    role="staff",
                )  # fmt: skip
            ids |= {"user_id": victim.user_id, "tenant_id": tenant_a}
            world = World(ids, callers, other.secret)
            doc = (await http.get("/openapi.json")).json()
            await _walk(world, http, doc)
    operations = sum(len(ops) for ops in doc["paths"].values())
    print(f"\n{operations} operations x ({len(callers)} callers + none + another tenant): "
          f"{world.calls} calls, {len(world.mismatches)} mismatches")  # fmt: skip
    assert world.mismatches == [], "\n".join(world.mismatches)
