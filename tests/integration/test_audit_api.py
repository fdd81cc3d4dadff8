"""GET /v1/audit against real PostgreSQL: one tenant's entries only, both orders, every filter,
cursor paging that neither skips nor repeats, CSV (by Accept or format=csv) streamed past a
page and defused against formula injection."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from access.audit_store import append
from access_api.routes_audit import defused, wants_csv
from core.settings import Settings
from http_api.deps import Services
from vq.api import create_app

START = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


@dataclass
class Trail:
    http: httpx.AsyncClient
    services: Services
    tenant_id: str
    admin: str
    admin_id: str
    staff: str
    other_admin: str

    async def get(self, secret: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {secret or self.admin}"}
        headers.update(params.pop("headers", {}))
        return await self.http.get("/v1/audit", params=params, headers=headers)

    async def entries(self, **params: Any) -> list[dict[str, Any]]:
        answer = await self.get(**params)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["entries"])

    async def add(self, tenant_id: str | None, at: datetime, action: str, **kw: Any) -> None:
        async with self.services.pool.connection() as conn:
            await append(conn, tenant_id=tenant_id, at=at, action=action, **kw)


@pytest.fixture
async def trail(settings: Settings) -> AsyncIterator[Trail]:
    """A tenant with an admin and a staff key, another tenant, and entries of both: sign-ins
    an hour apart, by two people."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        directory = services.directory
        tenant_id, admin = await directory.create_tenant("Clinic")
        staff = await directory.create_key(tenant_id, "staff", "staff")
        other_id, other = await directory.create_tenant("Bank")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            made = Trail(
                http, services, tenant_id, admin.secret, admin.key.key_id, staff.secret,
                other.secret,
            )  # fmt: skip
            for hour in range(4):
                who = "user:ann" if hour % 2 == 0 else "user:bob"
                await made.add(tenant_id, START + timedelta(hours=hour), "login", actor=who)
            await made.add(other_id, START, "login", actor="user:eve", subject="secret-of-bank")
            await made.add(None, START, "signing-key.rotated", actor="operator")
            yield made


async def test_a_tenant_sees_its_own_entries_newest_first_or_oldest_first(trail: Trail) -> None:
    newest = await trail.entries()
    # tenant.created, key.created (admin), key.created (staff), four logins
    assert len(newest) == 7
    seqs = [e["seq"] for e in newest]
    assert seqs == sorted(seqs, reverse=True)
    assert all(e["actor"] != "user:eve" and e["action"] != "signing-key.rotated" for e in newest)
    oldest = await trail.entries(order="oldest")
    assert [e["seq"] for e in oldest] == sorted(seqs)
    first = oldest[0]
    assert first["action"] == "tenant.created" and first["subject"] == f"tenant:{trail.tenant_id}"
    assert len(first["hash"]) == 64 and first["detail"] == {"name": "Clinic"}
    others = (await trail.get(trail.other_admin)).json()["entries"]
    assert {e["actor"] for e in others if e["action"] == "login"} == {"user:eve"}


async def test_filters_by_action_actor_subject_and_time(trail: Trail) -> None:
    assert {e["action"] for e in await trail.entries(action="key.")} == {"key.created"}
    assert len(await trail.entries(action="key.*")) == 2
    assert len(await trail.entries(action="key")) == 0  # exact
    assert len(await trail.entries(action="login")) == 4
    ann = await trail.entries(actor="user:ann")
    assert [datetime.fromisoformat(e["at"]) for e in ann] == [START + timedelta(hours=2), START]
    mine = await trail.entries(subject=f"key:{trail.admin_id}")
    assert [e["action"] for e in mine] == ["key.created"]
    window = await trail.entries(
        action="login",
        since=(START + timedelta(hours=1)).isoformat(),
        until=(START + timedelta(hours=3)).isoformat(),
    )
    assert [datetime.fromisoformat(e["at"]) for e in window] == [
        START + timedelta(hours=2),
        START + timedelta(hours=1),
    ]  # since inclusive, until exclusive
    paris = await trail.entries(action="login", since="2026-03-04T11:00:00+02:00")
    assert len(paris) == 3  # 09:00 UTC and later: 09, 10 and 11
    assert await trail.entries(action="login", since="9999-12-31T23:00:00-05:00") == []
    assert len(await trail.entries(action="login", until="9999-12-31T23:00:00-05:00")) == 4


async def test_cursor_pages_cover_everything_once_in_either_order(trail: Trail) -> None:
    for order in ("newest", "oldest"):
        everything = [e["seq"] for e in await trail.entries(order=order)]
        seen: list[int] = []
        answer = await trail.get(order=order, limit=3)
        pages = 0
        while True:
            assert answer.status_code == 200, answer.text
            body = answer.json()
            seen += [e["seq"] for e in body["entries"]]
            pages += 1
            if body["next"] is None:
                assert "Link" not in answer.headers
                break
            assert answer.headers["Link"] == f'<{body["next"]}>; rel="next"'
            answer = await trail.http.get(
                body["next"], headers={"Authorization": f"Bearer {trail.admin}"}
            )
        assert seen == everything and pages == 3, (order, seen, everything)
    # after and before bound a range (sequence numbers are the deployment's: not contiguous).
    own = [e["seq"] for e in await trail.entries(order="oldest")]
    middle = await trail.entries(order="oldest", after=own[1], before=own[5])
    assert [e["seq"] for e in middle] == own[2:5]


async def test_csv_by_accept_or_format_streams_every_entry_and_defuses_formulas(
    trail: Trail,
) -> None:
    async with trail.services.pool.connection() as conn, conn.transaction():
        for n in range(2300):
            await append(
                conn,
                tenant_id=trail.tenant_id,
                at=START + timedelta(seconds=n),
                actor="user:ann",
                action="settings.changed",
                subject='=HYPERLINK("http://evil","x")' if n == 7 else None,
                detail={"n": n},
            )
    answer = await trail.get(action="settings.changed", headers={"Accept": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["seq", "at", "actor", "action", "subject", "detail", "hash"]
    assert len(rows) == 1 + 2300  # past the 1,000-entry pages
    body = rows[1:]
    assert [int(r[0]) for r in body] == sorted((int(r[0]) for r in body), reverse=True)
    assert len({r[0] for r in body}) == 2300
    evil = next(r for r in body if r[5] == '{"n":7}')
    assert evil[4] == '\'=HYPERLINK("http://evil","x")'

    capped = await trail.get(action="settings.changed", format="csv", limit=1000, order="oldest")
    lines = list(csv.reader(io.StringIO(capped.text)))[1:]
    assert len(lines) == 1000 and lines[0][5] == '{"n":0}'
    json_anyway = await trail.get(format="json", headers={"Accept": "text/csv"})
    assert json_anyway.headers["content-type"].startswith("application/json")


async def test_only_admins_read_the_trail_and_bad_parameters_are_422(trail: Trail) -> None:
    assert (await trail.get(trail.staff)).status_code == 403
    assert (await trail.http.get("/v1/audit")).status_code == 401
    for bad in (
        {"limit": 0},
        {"limit": 1001},
        {"after": -1},
        {"before": 2**63},
        {"since": "yesterday"},
        {"until": "2026-03-04"},
        {"order": "random"},
        {"format": "xml"},
        {"action": "key\x00"},
        {"actor": "x" * 201},
    ):
        answer = await trail.get(**bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"


def test_cells_a_spreadsheet_would_run_are_quoted() -> None:
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert defused(cell) == "'" + cell
    for cell in ("key.created", "user:ann", '{"a":"=1"}', ""):
        assert defused(cell) == cell


def test_accept_header_negotiation() -> None:
    assert wants_csv("text/csv")
    assert wants_csv("text/csv, application/json")
    assert wants_csv("application/json;q=0.5, text/csv")
    assert not wants_csv("application/json, text/csv")
    assert not wants_csv("*/*")
    assert not wants_csv("")
    assert not wants_csv("text/csv;q=0")
    assert not wants_csv("text/csv;q=0.5, */*")
    assert not wants_csv("text/csv;q=nan")
