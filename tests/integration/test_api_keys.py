"""API keys over HTTP against real PostgreSQL: scopes (a subset of the role's permissions),
expiry, rotation with an overlap, usage counted without a write per request, revocation, the
audit entries each change leaves, and tenants made with the operator key."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from access.audit_store import verify
from core.settings import Settings
from http_api.deps import Services
from vq.api import create_app

OPERATOR_KEY = "operator-" + uuid.uuid4().hex + uuid.uuid4().hex


@dataclass
class World:
    http: httpx.AsyncClient
    services: Services
    settings: Settings
    tenant_id: str
    admin: str  # the tenant's admin key
    admin_id: str
    other_admin: str  # another tenant's admin key

    def auth(self, secret: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret or self.admin}"}

    async def make(self, secret: str | None = None, **body: Any) -> httpx.Response:
        return await self.http.post("/v1/keys", json=body, headers=self.auth(secret))

    async def key(self, **body: Any) -> dict[str, Any]:
        made = await self.make(**body)
        assert made.status_code == 201, made.text
        return dict(made.json())

    async def status(self, secret: str, path: str = "/v1/queues") -> int:
        return (await self.http.get(path, headers=self.auth(secret))).status_code

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.pg_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(self.settings.db_schema))
            )
            return conn.execute(query, params).fetchall()


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    settings = settings.model_copy(update={"operator_key": OPERATOR_KEY})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        tenant_id, admin = await services.directory.create_tenant("Clinic")
        _, other = await services.directory.create_tenant("Bank")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            yield World(
                http, services, settings, tenant_id, admin.secret, admin.key.key_id, other.secret
            )


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_a_key_is_shown_once_stored_hashed_and_listed_with_who_made_it(
    world: World,
) -> None:
    made = await world.key(name="door kiosk", role="kiosk")
    secret = made.pop("secret")
    assert secret.startswith("vq_") and len(secret) > 40
    assert made["role"] == "kiosk" and made["scopes"] is None and made["expires_at"] is None
    assert made["created_by"] == f"key:{world.admin_id}" and made["use_count"] == 0
    stored = world.rows(
        "SELECT key_hash, row_to_json(api_keys)::text FROM api_keys WHERE key_id = %s",
        made["key_id"],
    )
    assert bytes(stored[0][0]) == hashlib.sha256(secret.encode()).digest()
    assert secret not in stored[0][1]
    listed = (await world.http.get("/v1/keys", headers=world.auth())).json()
    assert {k["key_id"] for k in listed} == {world.admin_id, made["key_id"]}
    assert all("secret" not in k for k in listed)
    one = (await world.http.get(f"/v1/keys/{made['key_id']}", headers=world.auth())).json()
    assert one["name"] == "door kiosk" and "secret" not in one
    assert await world.status(secret) == 200


async def test_scopes_are_a_subset_of_the_role_and_narrow_what_the_key_may_do(
    world: World,
) -> None:
    beyond = await world.make(name="x", role="viewer", scopes=["read", "keys:manage"])
    assert beyond.status_code == 409, beyond.text
    assert beyond.json()["type"] == "/problems/rule-violated"
    assert "keys:manage" in beyond.json()["detail"]
    for bad in (["read", "read"], [], ["root"], "read"):
        refused = await world.make(name="x", role="viewer", scopes=bad)
        assert refused.status_code == 422, (bad, refused.text)
    for role in ("manager", "display"):  # the roles 0014 adds
        assert (await world.key(name=role, role=role))["role"] == role

    enqueue_only = await world.key(name="kiosk", role="kiosk", scopes=["tickets:enqueue"])
    assert enqueue_only["scopes"] == ["tickets:enqueue"]
    queue = await world.http.post(
        "/v1/queues", json={"name": "Desk", "counters": ["1"]}, headers=world.auth()
    )
    queue_id = queue.json()["queue_id"]
    taken = await world.http.post(
        f"/v1/queues/{queue_id}/tickets", headers=world.auth(enqueue_only["secret"])
    )
    assert taken.status_code == 201, taken.text
    read = await world.http.get("/v1/queues", headers=world.auth(enqueue_only["secret"]))
    assert read.status_code == 403 and "scopes" in read.json()["detail"]


async def test_a_scoped_key_cannot_make_or_rotate_a_key_stronger_than_itself(
    world: World,
) -> None:
    manager = (await world.key(name="keys bot", role="admin", scopes=["keys:manage", "read"]))[
        "secret"
    ]
    stronger = await world.make(manager, name="full", role="admin")
    assert stronger.status_code == 403 and "queues:manage" in stronger.json()["detail"]
    weaker = await world.make(manager, name="board", role="viewer", scopes=["read"])
    assert weaker.status_code == 201, weaker.text
    rotate = await world.http.post(f"/v1/keys/{world.admin_id}/rotate", headers=world.auth(manager))
    assert rotate.status_code == 403
    assert await world.status(world.admin) == 200  # the admin key was not rotated


async def test_an_expired_key_is_refused_listed_as_expired_and_cannot_be_rotated(
    world: World,
) -> None:
    past = await world.make(name="x", role="staff", expires_at=_in(-60))
    assert past.status_code == 409 and past.json()["type"] == "/problems/rule-violated"
    far = await world.make(name="x", role="staff", expires_at="9999-12-31T23:00:00-05:00")
    assert far.status_code == 409, far.text
    assert (await world.make(name="x", role="staff", expires_at=1893456000)).status_code == 422
    assert (await world.make(name="x", role="staff", expires_at="2030-01-01")).status_code == 422

    soon = await world.key(name="temp", role="staff", expires_at=_in(1.5))
    assert await world.status(soon["secret"]) == 200  # and now cached by the authenticator
    await asyncio.sleep(2.0)
    refused = await world.http.get("/v1/queues", headers=world.auth(soon["secret"]))
    assert refused.status_code == 401, refused.text
    assert await world.services.directory.authenticate(soon["secret"]) is None
    listed = (await world.http.get(f"/v1/keys/{soon['key_id']}", headers=world.auth())).json()
    assert listed["expired"] is True
    rotate = await world.http.post(f"/v1/keys/{soon['key_id']}/rotate", headers=world.auth())
    assert rotate.status_code == 409 and "expired" in rotate.json()["detail"]


async def test_rotation_keeps_the_old_secret_for_the_overlap_then_refuses_it(
    world: World,
) -> None:
    made = await world.key(name="staff app", role="staff", scopes=["read", "tickets:operate"])
    first = made["secret"]
    path = f"/v1/keys/{made['key_id']}/rotate"
    answer = await world.http.post(path, json={"overlap_s": 3600}, headers=world.auth())
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    second = rotated["secret"]
    assert second != first and rotated["key_id"] == made["key_id"]
    assert rotated["scopes"] == ["read", "tickets:operate"] and rotated["rotated_at"]
    until = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)
    assert await world.status(first) == 200 and await world.status(second) == 200

    # Rotating again ends the earlier overlap at once; with no overlap, the one before too.
    again = await world.http.post(path, json={"overlap_s": 0}, headers=world.auth())
    third = again.json()["secret"]
    assert again.json()["previous_secret_expires_at"] is None
    assert await world.status(first) == 401 and await world.status(second) == 401
    assert await world.status(third) == 200

    # A short overlap ends by itself (also for a secret the authenticator has cached).
    short = await world.http.post(path, json={"overlap_s": 1}, headers=world.auth())
    fourth = short.json()["secret"]
    assert await world.status(third) == 200 and await world.status(fourth) == 200
    await asyncio.sleep(1.5)
    assert await world.status(third) == 401 and await world.status(fourth) == 200

    default = await world.http.post(path, headers=world.auth())  # no body: a day's overlap
    until = datetime.fromisoformat(default.json()["previous_secret_expires_at"])
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(days=1)
    for bad in ({"overlap_s": 7 * 86400 + 1}, {"overlap_s": -1}, {"overlap_s": "60"}, {"x": 1}):
        refused = await world.http.post(path, json=bad, headers=world.auth())
        assert refused.status_code == 422, (bad, refused.text)


async def test_uses_are_counted_in_memory_and_written_in_one_batch(world: World) -> None:
    made = await world.key(name="board", role="viewer")
    for _ in range(3):
        assert await world.status(made["secret"]) == 200
    seen = (await world.http.get(f"/v1/keys/{made['key_id']}", headers=world.auth())).json()
    assert seen["use_count"] == 3 and seen["last_used_at"] is not None
    stored = "SELECT use_count, last_used_at FROM api_keys WHERE key_id = %s"
    assert world.rows(stored, made["key_id"]) == [(0, None)]  # no write per request

    written = await world.services.directory.flush_usage()
    assert written >= 2  # the board's key and the admin's
    count, last = world.rows(stored, made["key_id"])[0]
    assert count == 3 and last == datetime.fromisoformat(seen["last_used_at"])
    assert await world.services.directory.flush_usage() == 0  # nothing new
    again = (await world.http.get(f"/v1/keys/{made['key_id']}", headers=world.auth())).json()
    assert again["use_count"] == 3  # not counted twice


async def test_revoking_stops_a_key_at_once_and_other_tenants_see_nothing(world: World) -> None:
    made = await world.key(name="gone", role="staff")
    key_path = f"/v1/keys/{made['key_id']}"
    assert await world.status(made["secret"]) == 200
    for method, path in (
        ("GET", key_path),
        ("POST", key_path + "/rotate"),
        ("DELETE", key_path),
    ):
        other = await world.http.request(method, path, headers=world.auth(world.other_admin))
        assert other.status_code == 404, (method, other.text)
        staff = await world.http.request(method, path, headers=world.auth(made["secret"]))
        assert staff.status_code == 403, (method, staff.text)
    assert (await world.http.delete(key_path, headers=world.auth())).status_code == 204
    assert await world.status(made["secret"]) == 401
    assert (await world.http.get(key_path, headers=world.auth())).status_code == 404
    assert (await world.http.delete(key_path, headers=world.auth())).status_code == 404
    listed = (await world.http.get("/v1/keys", headers=world.auth())).json()
    assert made["key_id"] not in {k["key_id"] for k in listed}
    other_list = (await world.http.get("/v1/keys", headers=world.auth(world.other_admin))).json()
    assert world.admin_id not in {k["key_id"] for k in other_list}


async def test_every_key_change_is_audited_with_its_actor_and_no_secret(world: World) -> None:
    made = await world.key(name="audited", role="kiosk", expires_at=_in(3600))
    rotated = await world.http.post(
        f"/v1/keys/{made['key_id']}/rotate", json={"overlap_s": 60}, headers=world.auth()
    )
    await world.http.delete(f"/v1/keys/{made['key_id']}", headers=world.auth())
    entries = world.rows(
        "SELECT action, actor, subject, detail::text FROM audit_log WHERE subject = %s "
        "ORDER BY seq",
        f"key:{made['key_id']}",
    )
    actor = f"key:{world.admin_id}"
    assert [(a, who) for a, who, _, _ in entries] == [
        ("key.created", actor),
        ("key.rotated", actor),
        ("key.revoked", actor),
    ]
    assert '"role": "kiosk"' in entries[0][3] and '"overlap_s": 60' in entries[1][3]
    everything = " ".join(str(row) for row in world.rows("SELECT * FROM audit_log"))
    for secret in (made["secret"], rotated.json()["secret"], world.admin):
        assert secret not in everything
    assert await verify(world.services.pool) == (len(world.rows("SELECT 1 FROM audit_log")), None)


async def test_the_operator_makes_tenants_and_the_creation_is_audited(world: World) -> None:
    refused = await world.http.post(
        "/v1/tenants", json={"name": "Library"}, headers=world.auth(world.admin)
    )
    assert refused.status_code == 401
    made = await world.http.post(
        "/v1/tenants", json={"name": "Library"}, headers=world.auth(OPERATOR_KEY)
    )
    assert made.status_code == 201, made.text
    body = made.json()
    admin = body["admin_key"]
    assert admin["role"] == "admin" and admin["created_by"] == "operator"
    assert await world.status(admin["secret"]) == 200
    actions = world.rows(
        "SELECT action, actor FROM audit_log WHERE tenant_id = %s ORDER BY seq", body["tenant_id"]
    )
    assert actions == [("tenant.created", "operator"), ("key.created", "operator")]
