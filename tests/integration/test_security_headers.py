"""Security headers on every answer, page policies that fit the product's pages, CORS with the
deployment's and each organisation's allow-list, and the organisation's access settings."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.requests import HTTPConnection

from access.audit_store import entries
from access.org_settings import normal_origin
from core.settings import Settings
from http_api.security import origin_allowed, page_sources
from projections.layout import Keys
from projections.rebuild import rebuild
from tests.integration.servers import free_port
from vq.api import create_app

GLOBAL = "https://ops.example"
PUBLIC = "https://queue.example"
CLINIC = "https://clinic.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The product's default limit (the suite's settings raise it for the other tests)."""
    return settings.model_copy(update={"rate_limit_per_minute": 1000})


@dataclass
class Site:
    app: FastAPI
    http: httpx.AsyncClient
    tenant_id: str
    admin: dict[str, str]
    viewer: dict[str, str]
    other_tenant_id: str
    other_admin: dict[str, str]


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    deployment = settings.model_copy(
        update={"cors_origins": f"{GLOBAL}, http://localhost:5173", "public_url": PUBLIC + "/q"}
    )
    app = create_app(deployment)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom, openapi_extra={"x-permission": "public"})
    async with app.router.lifespan_context(app):
        directory = app.state.services.directory
        tenant_id, admin = await directory.create_tenant("Clinic")
        viewer = await directory.create_key(tenant_id, "screen", "viewer")
        other_tenant_id, other_admin = await directory.create_tenant("Bank")
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            yield Site(
                app,
                http,
                tenant_id,
                _bearer(admin.secret),
                _bearer(viewer.secret),
                other_tenant_id,
                _bearer(other_admin.secret),
            )


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


async def test_every_answer_carries_the_basic_headers_errors_and_crashes_too(site: Site) -> None:
    answers = {
        200: await site.http.get("/v1/clock"),
        401: await site.http.get("/v1/queues"),
        404: await site.http.get("/no/such/page"),
        405: await site.http.delete("/v1/clock"),
        422: await site.http.put("/v1/settings/access", json={}, headers=site.admin),
        500: await site.http.get("/boom"),
    }
    for status, answer in answers.items():
        assert answer.status_code == status, answer.text
        assert answer.headers["x-content-type-options"] == "nosniff", status
        assert answer.headers["referrer-policy"] == "no-referrer", status
        assert "strict-transport-security" not in answer.headers  # plain HTTP: no HSTS
        assert "content-security-policy" not in answer.headers  # JSON: no page policy
        assert "Origin" in answer.headers["vary"]


async def test_a_405_lists_the_methods_the_resource_allows(site: Site) -> None:
    """RFC 9110 section 15.5.6: every route of the path, in whichever router it was declared."""
    queue = f"/v1/queues/{uuid.uuid4()}"
    for method, path, allowed in (
        ("DELETE", "/v1/clock", "GET"),
        ("DELETE", queue, "GET, PATCH"),
        ("GET", f"{queue}/pause", "POST"),
        ("PUT", "/v1/queues", "GET, POST"),
        ("POST", "/healthz", "GET"),
    ):
        answer = await site.http.request(method, path, headers=site.admin)
        assert answer.status_code == 405, (method, path, answer.text)
        assert answer.headers["allow"] == allowed, (method, path)


async def test_hsts_only_over_tls(site: Site) -> None:
    transport = httpx.ASGITransport(app=site.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://vq.test") as tls:
        answer = await tls.get("/v1/clock")
    assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_the_board_runs_its_own_files_only_and_may_be_framed_by_its_site(
    site: Site, settings: Settings
) -> None:
    created = await site.http.post(
        "/v1/queues", json={"name": "Front desk", "counters": ["1"]}, headers=site.admin
    )
    queue_id = created.json()["queue_id"]
    services = site.app.state.services
    key = site.viewer["Authorization"].removeprefix("Bearer ")
    async with asyncio.timeout(20):
        # The read model, folded here from the store (no Kafka, no worker). The store shows an
        # event once every older transaction has ended: other tests' may still be running.
        while True:
            await rebuild(services.store, services.redis, Keys(settings.redis_prefix), {queue_id})
            page = await site.http.get(f"/board/{queue_id}", params={"access_token": key})
            if page.status_code != 404:
                break
            await asyncio.sleep(0.2)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = _directives(page.headers["content-security-policy"])
    # Nothing inline runs: the page's code is its own files; an inline script is data.
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    for attrs in re.findall(r"<script\b([^>]*)>", page.text):
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
    assert not re.search(r"<style\b|\sstyle\s*=", page.text)
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"


async def test_a_page_with_its_own_policy_keeps_it_and_is_never_framed(site: Site) -> None:
    async def own_policy() -> HTMLResponse:
        return HTMLResponse(
            "<p>mine</p>", headers={"Content-Security-Policy": "default-src 'none'"}
        )

    site.app.add_api_route("/own-policy", own_policy, openapi_extra={"x-permission": "public"})
    page = await site.http.get("/own-policy")
    assert page.status_code == 200, page.text
    policies = page.headers.get_list("content-security-policy")
    assert policies[0] == "default-src 'none'"  # the route's own, untouched
    assert policies[1:] == ["frame-ancestors 'none'"]  # a second policy: both are enforced
    assert page.headers["x-frame-options"] == "DENY"


async def test_the_dashboard_gets_the_page_policy_and_is_never_framed(site: Site) -> None:
    page = await site.http.get("/dashboard")
    assert page.status_code == 200, page.text
    (policy,) = page.headers.get_list("content-security-policy")
    directives = _directives(policy)
    assert directives["script-src"] == ["'self'"] and directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_the_api_documentation_loads_swagger_from_its_cdn(site: Site) -> None:
    docs = await site.http.get("/docs")
    policy = _directives(docs.headers["content-security-policy"])
    assert "https://cdn.jsdelivr.net" in policy["script-src"]
    assert policy["connect-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]


def test_page_sources_hash_inline_code_but_never_trust_external_scripts() -> None:
    page = (
        '<style>b{}</style><i style="color: red">x</i><script>go()</script>'
        '<script src="https://evil.example/x.js"></script>'
    )
    policy = _directives(page_sources([page]))
    assert policy["script-src"] == ["'self'", _hash("go()")]
    assert policy["style-src"] == ["'self'", _hash("b{}"), "'unsafe-hashes'", _hash("color: red")]


async def _put(site: Site, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    full = {"mfa_roles": [], "rate_limit_per_minute": None, "cors_origins": [], **body}
    return await site.http.put("/v1/settings/access", json=full, headers=headers or site.admin)


async def test_preflights_are_answered_for_allowed_origins_only(site: Site) -> None:
    assert (await _put(site, cors_origins=[CLINIC])).status_code == 200
    for origin in (GLOBAL, CLINIC, "http://localhost:5173"):
        answer = await site.http.options("/v1/queues", headers={"Origin": origin, **PREFLIGHT})
        assert answer.status_code == 204, origin
        assert answer.headers["access-control-allow-origin"] == origin
        assert "Idempotency-Key" in answer.headers["access-control-allow-headers"]
        assert "Authorization" in answer.headers["access-control-allow-headers"]
        assert "POST" in answer.headers["access-control-allow-methods"]
        assert answer.headers["access-control-max-age"] == "600"
        assert answer.headers["vary"] == "Origin"
        assert answer.headers["x-content-type-options"] == "nosniff"
    for origin in ("https://evil.example", "null", "https://clinic.example.evil.example"):
        refused = await site.http.options("/v1/queues", headers={"Origin": origin, **PREFLIGHT})
        assert refused.status_code == 403, origin
        assert refused.json()["type"] == "/problems/origin-not-allowed"
        assert not [h for h in refused.headers if h.startswith("access-control-")]


async def test_allowed_origins_may_read_the_answers_and_their_limit_headers(site: Site) -> None:
    allowed = await site.http.get("/v1/clock", headers={"Origin": GLOBAL})
    assert allowed.headers["access-control-allow-origin"] == GLOBAL
    exposed = allowed.headers["access-control-expose-headers"]
    for name in ("Retry-After", "RateLimit-Remaining", "RateLimit-Reset", "Location", "ETag"):
        assert name in exposed
    other = await site.http.get("/v1/clock", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def _connection(app: FastAPI, origin: str | None, host: str = "api.internal") -> HTTPConnection:
    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
    return HTTPConnection({"type": "http", "scheme": "http", "headers": headers, "app": app})


async def test_a_cross_origin_caller_must_come_from_its_own_organisations_origins(
    site: Site,
) -> None:
    assert (await _put(site, cors_origins=[CLINIC])).status_code == 200
    mine, theirs = site.tenant_id, site.other_tenant_id
    assert await origin_allowed(_connection(site.app, None), theirs)  # not a browser
    assert await origin_allowed(_connection(site.app, PUBLIC), theirs)  # the API's own page
    assert await origin_allowed(_connection(site.app, "http://api.internal"), theirs)
    assert await origin_allowed(_connection(site.app, GLOBAL), theirs)  # the deployment's
    assert await origin_allowed(_connection(site.app, CLINIC), mine)
    assert not await origin_allowed(_connection(site.app, CLINIC), theirs)
    assert not await origin_allowed(_connection(site.app, "null"), mine)


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("https://clinic.example", "https://clinic.example"),
        ("HTTPS://Clinic.EXAMPLE:443", "https://clinic.example"),
        ("http://clinic.example:80/", "http://clinic.example"),
        ("https://clinic.example:8443", "https://clinic.example:8443"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ],
)
def test_an_origin_is_kept_as_a_browser_sends_it(given: str, normal: str) -> None:
    assert normal_origin(given) == normal


@pytest.mark.parametrize(
    "wrong",
    [
        "",
        "null",
        "*",
        "clinic.example",
        "https://*.clinic.example",
        "https://clinic.example/app",
        "https://clinic.example?x=1",
        "https://clinic.example#top",
        "https://clinic.example?",
        "https://user:pw@clinic.example",
        "https://clinic.example:0",
        "https://clinic.example:70000",
        "https://clinic.example.",
        "https://bücher.example",
        "https://clinic .example",
        "javascript://clinic.example",
        "file:///etc",
    ],
)
def test_anything_but_an_exact_origin_is_refused(wrong: str) -> None:
    with pytest.raises(ValueError):
        normal_origin(wrong)


async def test_origins_are_exact_and_stored_as_browsers_send_them(site: Site) -> None:
    for wrong in (
        ["https://*.clinic.example"],
        ["https://clinic.example/app"],
        ["ftp://clinic.example"],
        ["null"],
        ["https://user@clinic.example"],
        [f"https://c{n}.example" for n in range(51)],
    ):
        refused = await _put(site, cors_origins=wrong)
        assert refused.status_code == 422, (wrong, refused.text)
    # Well-shaped (what the document says) but not an origin: the rules refuse it.
    for wrong in (["https://clinic.example:99999"], ["https://-clinic.example"]):
        refused = await _put(site, cors_origins=wrong)
        assert refused.status_code == 409, (wrong, refused.text)
        assert refused.json()["type"] == "/problems/rule-violated"
    stored = await _put(
        site, cors_origins=["HTTPS://Clinic.Example:443/", "http://[::1]:8080", CLINIC]
    )
    assert stored.json()["cors_origins"] == [CLINIC, "http://[::1]:8080"]


async def test_settings_are_the_admins_and_each_change_is_audited(site: Site, pool: Any) -> None:
    fresh = await site.http.get("/v1/settings/access", headers=site.admin)
    assert fresh.json() == {
        "mfa_roles": [],
        "rate_limit_per_minute": None,
        "cors_origins": [],
        "effective_rate_limit_per_minute": 1000,
    }
    assert (await _put(site, site.viewer, mfa_roles=["admin"])).status_code == 403
    assert (await _put(site, mfa_roles=["kiosk"])).status_code == 422
    changed = await _put(site, mfa_roles=["staff", "admin", "admin"], rate_limit_per_minute=2000)
    assert changed.status_code == 200, changed.text
    assert changed.json()["mfa_roles"] == ["admin", "staff"]
    again = await _put(site, mfa_roles=["admin", "staff"], rate_limit_per_minute=2000)
    assert again.status_code == 200
    read = await site.http.get("/v1/settings/access", headers=site.admin)
    assert read.json()["effective_rate_limit_per_minute"] == 2000
    theirs = await site.http.get("/v1/settings/access", headers=site.other_admin)
    assert theirs.json()["mfa_roles"] == []  # another organisation's are its own
    audited = [e async for e in entries(pool) if e.action == "settings.changed"]
    assert len(audited) == 1  # the second PUT changed nothing
    (entry,) = audited
    assert entry.tenant_id == site.tenant_id and entry.actor.startswith("key:")
    assert entry.detail["changes"] == {
        "mfa_roles": {"old": [], "new": ["admin", "staff"]},
        "rate_limit_per_minute": {"old": None, "new": 2000},
    }


async def test_with_postgresql_down_cors_still_answers_from_the_deployments_list(
    settings: Settings,
) -> None:
    closed = f"postgresql://vq:vq@127.0.0.1:{free_port()}/vq"  # the real one stays up
    app = create_app(settings.model_copy(update={"database_url": closed, "cors_origins": GLOBAL}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vq.test") as http:
            listed = await http.options("/v1/queues", headers={"Origin": GLOBAL, **PREFLIGHT})
            assert listed.status_code == 204
            unknown = await http.options("/v1/queues", headers={"Origin": CLINIC, **PREFLIGHT})
            assert unknown.status_code == 403
            answer = await http.get("/v1/clock", headers={"Origin": CLINIC})
            assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
