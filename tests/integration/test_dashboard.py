"""The manager dashboard: a public page (it holds no data) whose reads are refused like any read
without a key, in the person's language, and every route its scripts call exists and answers what
they read (on a real API process and read side, so a renamed route or field fails here, not on a
manager's screen)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from access.directory import TenantDirectory
from core.settings import Settings
from eventstore.postgres import PostgresEventStore
from tests.integration.servers import api_servers, read_side
from tests.integration.test_live import sse_events

PROBLEM = "application/problem+json"
ZONE = "Europe/Paris"
# A stream worker that just started may take seconds to join its consumer group.
STARTUP_WAIT_S = 30
# What the scripts read from each answer (keep in step with web/static/dashboard*.js).
VIEW_FIELDS = {
    "queue_id",
    "version",
    "name",
    "status",
    "timezone",
    "target_wait_seconds",
    "counters",
    "priority_classes",
    "waiting_by_priority",
    "waiting",
    "called",
    "serving",
    "estimate",
}
ESTIMATE_FIELDS = {"p10_seconds", "p50_seconds", "p90_seconds", "ahead", "estimator"}
ROW_FIELDS = {
    "start",
    "arrivals",
    "served",
    "abandonment_rate",
    "within_target_share",
    "wait_seconds",
}
TOTAL_FIELDS = ROW_FIELDS | {
    "no_shows",
    "walkaways",
    "cancellations",
    "target_wait_seconds",
    "counters",
    "over_twice_share",
    "routed",
}
ESTIMATOR_FIELDS = {
    "estimator",
    "estimated",
    "called",
    "waiting",
    "mae_seconds",
    "within_20_percent",
    "p10_p90_coverage",
    "over_twice_p50",
}
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class _Page(HTMLParser):
    """Strict enough: every element closed in order, the scripts (their attributes and text),
    every address the page names."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.errors: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.loads: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.loads += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
        if tag not in _VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _javascript_parses(name: str, script: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:  # the other checks still run; a syntax check needs an engine
        return
    source = tmp_path / name
    source.write_text(script)
    checked = subprocess.run(
        [node, "--check", str(source)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr


async def test_dashboard_page_and_the_routes_it_calls(
    settings: Settings, topics: list[str], store: PostgresEventStore, tenant_id: str, tmp_path: Path
) -> None:
    directory = TenantDirectory(store)
    admin = (await directory.create_key(tenant_id, "admin", "admin")).secret
    viewer = (await directory.create_key(tenant_id, "board", "viewer")).secret
    midnight = datetime.now(ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    with api_servers(settings, 1) as urls, read_side(settings):
        async with httpx.AsyncClient(base_url=urls[0], timeout=STARTUP_WAIT_S + 10) as http:
            page = await http.get("/dashboard", params={"access_token": viewer})
            assert page.status_code == 200, page.text
            assert page.headers["content-type"].startswith("text/html")
            _the_page_policy(page)
            await _refused_like_any_read(http)
            await _in_the_persons_language(http)
            paths = await _page_checks(http, page.text, tmp_path)
            spec = (await http.get("/openapi.json")).json()["paths"]
            # Reads, and the one command the page sends (a staffing plan: a POST).
            posted = {"/v1/queues/{queue_id}/staffing-plans"}
            missing = [
                p for p in paths if ("post" if p in posted else "get") not in spec.get(p, {})
            ]
            assert not missing, f"the dashboard calls routes the API does not have: {missing}"

            queue_id = await _a_queue_with_a_morning(http, admin)
            await _the_routes_answer_what_the_page_reads(http, viewer, queue_id, midnight)


def _the_page_policy(page: httpx.Response) -> None:
    """The policy of every page: its own scripts and styles only, nothing inline; never cached,
    never framed, never sent on as a Referer."""
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy, policy
    assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy, policy
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


async def _refused_like_any_read(http: httpx.AsyncClient) -> None:
    """The page itself is public (it holds no data: the key rides in the fragment, which the
    server never sees); what it reads with a missing or wrong key is refused like any read."""
    for params in ({}, {"access_token": "vq_wrong"}):
        page = await http.get("/dashboard", params=params)
        read = await http.get("/v1/queues", params=params)
        assert (page.status_code, read.status_code) == (200, 401)
        assert page.headers["content-type"].startswith("text/html")
        assert read.headers["content-type"] == PROBLEM


async def _in_the_persons_language(http: httpx.AsyncClient) -> None:
    """The browser's language, or the person's choice (remembered); English otherwise."""
    spanish = await http.get("/dashboard", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert '<html lang="es">' in spanish.text and "Panel de las filas" in spanish.text
    assert '"dashboard.no_queues_option": "no hay filas"' in spanish.text  # the scripts' words
    german = await http.get("/dashboard", headers={"Accept-Language": "de-AT,de;q=0.9"})
    assert '<html lang="de">' in german.text
    english = await http.get("/dashboard", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="en">' in english.text and "Queues dashboard" in english.text
    chosen = await http.get("/dashboard", params={"lang": "es"}, headers={"Accept-Language": "en"})
    assert '<html lang="es">' in chosen.text and chosen.cookies.get("vq_lang") == "es"
    # The page's script is told whether the language was picked (here, or in the cookie) or
    # guessed from the browser: a picked one is never switched for a ticket's own.
    assert '"lang_picked": true' in chosen.text and '"lang_picked": false' in german.text
    remembered = await http.get("/dashboard", headers={"Cookie": "vq_lang=de"})
    assert '<html lang="de">' in remembered.text and '"lang_picked": true' in remembered.text
    # A page that switched itself to what it shows (`lang_auto=1`) remembers nothing.
    auto = await http.get("/dashboard", params={"lang": "fr", "lang_auto": "1"})
    assert '<html lang="fr">' in auto.text and '"lang_picked": false' in auto.text
    assert "set-cookie" not in auto.headers


async def _page_checks(http: httpx.AsyncClient, html: str, tmp_path: Path) -> list[str]:
    """Well-formed, loads only its own files, inline scripts are data, its scripts are valid
    JavaScript; returns the /v1 paths they name."""
    page = _parse(html)
    assert not page.errors and not page.open, (page.errors, page.open)
    outside = [a for a in page.loads if not a.startswith(("/static/", "?lang=", "#"))]
    assert not outside, f"the page loads or links resources elsewhere: {outside}"
    assert not re.findall(r"https?://", html)
    sources = []
    for attrs, text in page.scripts:
        if attrs.get("src") is None:
            assert attrs.get("type") == "application/json", attrs  # data, never code
            json.loads(text)
        elif not str(attrs["src"]).startswith(("/static/vq.js", "/static/vq-")):  # shared
            sources.append(str(attrs["src"]))
    assert len(sources) >= 2, sources
    script = ""
    for source in sources:
        answer = await http.get(source)
        assert answer.status_code == 200, source
        assert answer.headers["content-type"].startswith("text/javascript")
        name = source.split("/")[-1].split("?")[0]
        _javascript_parses(name, answer.text, tmp_path)
        script += answer.text
    # The only absolute URL is the SVG namespace (a name, never fetched).
    assert set(re.findall(r"https?://[^\s\"'`]+", script)) == {"http://www.w3.org/2000/svg"}
    # The key is sent as a header: no address the scripts build carries it.
    code = re.sub(r"(^|\s)//[^\n]*", "", re.sub(r"/\*.*?\*/", "", script, flags=re.S))
    assert not re.findall(r"[\"'`][^\"'`\n]*access_token=", code)
    paths = sorted(set(re.findall(r"[\"'`](/v1/[^\"'`?\s]*)[\"'`]", script)))
    assert {
        "/v1/queues",
        "/v1/queues/{queue_id}/events",
        "/v1/queues/{queue_id}/analytics",
        "/v1/queues/{queue_id}/accuracy",
        "/v1/queues/{queue_id}/bottlenecks",
    } <= set(paths), paths
    return paths


async def _a_queue_with_a_morning(http: httpx.AsyncClient, key: str) -> str:
    """Three arrivals, one served at counter 1, one called at counter 2; read side caught up."""
    auth = {"Authorization": f"Bearer {key}"}

    async def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await http.post(path, json=body, headers=auth)
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    queue_id = str(
        (
            await post(
                "/v1/queues",
                {
                    "name": "Front desk",
                    "counters": ["1", "2"],
                    "timezone": ZONE,
                    "target_wait_seconds": 600,
                },
            )
        )["queue_id"]
    )
    for _ in range(3):
        await post(f"/v1/queues/{queue_id}/tickets", {})
    first = (await post(f"/v1/queues/{queue_id}/call-next", {"counter": "1"}))["ticket"]
    await post(f"/v1/tickets/{first['ticket_id']}/start")
    await post(f"/v1/tickets/{first['ticket_id']}/complete")
    version = (await post(f"/v1/queues/{queue_id}/call-next", {"counter": "2"}))["stream_version"]
    ready = await http.get(
        f"/v1/queues/{queue_id}",
        headers=auth,
        params={"min_version": version, "wait": STARTUP_WAIT_S},
    )
    assert ready.status_code == 200, ready.text
    return queue_id


async def _the_routes_answer_what_the_page_reads(
    http: httpx.AsyncClient, key: str, queue_id: str, midnight: datetime
) -> None:
    """Each call as the page makes it (the key as a header for fetch, ?access_token for SSE)."""
    auth = {"Authorization": f"Bearer {key}"}
    listed = (await http.get("/v1/queues", headers=auth)).json()["queues"]
    assert [q["queue_id"] for q in listed] == [queue_id]
    assert set(listed[0]) >= VIEW_FIELDS

    stream = f"/v1/queues/{queue_id}/events"
    async with (
        http.stream("GET", stream, params={"access_token": key}) as response,
        asyncio.timeout(10),
    ):
        assert response.status_code == 200
        first = await anext(sse_events(response))
    view = json.loads(first["data"])
    assert first["event"] == "queue" and set(view) >= VIEW_FIELDS
    assert (view["waiting"], view["called"], view["timezone"]) == (1, 1, ZONE)
    assert set(view["estimate"]) >= ESTIMATE_FIELDS

    clock = await http.get("/v1/clock")
    assert {"now", "speed"} <= set(clock.json())

    answer = await http.get(
        f"/v1/queues/{queue_id}/analytics",
        headers=auth,
        params={"from": midnight.isoformat(), "bucket": "15m"},
    )
    assert answer.status_code == 200, answer.text
    analytics = answer.json()
    assert analytics["timezone"] == ZONE and isinstance(analytics["peak_hours"], list)
    total, rows = analytics["total"], analytics["rows"]
    assert set(total) >= TOTAL_FIELDS and rows and all(set(r) >= ROW_FIELDS for r in rows)
    assert (total["arrivals"], total["served"], total["target_wait_seconds"]) == (3, 1, 600)
    assert {"p50", "p90"} <= set(total["wait_seconds"])
    assert total["counters"]["1"]["served"] == 1
    assert {"served", "utilisation", "mean_service_seconds"} <= set(total["counters"]["1"])

    accuracy = await http.get(f"/v1/queues/{queue_id}/accuracy", headers=auth)
    assert accuracy.status_code == 200, accuracy.text  # 404 (no figures yet) is shown too
    figures = accuracy.json()
    assert figures["serving"] in {e["estimator"] for e in figures["estimators"]}
    assert all(set(e) >= ESTIMATOR_FIELDS for e in figures["estimators"])
    assert (
        await http.get(f"/v1/queues/{queue_id}/accuracy", params={"access_token": "vq_wrong"})
    ).status_code == 401

    limits = await http.get(f"/v1/queues/{queue_id}/bottlenecks", headers=auth)
    assert limits.status_code == 200, limits.text
    # A queue with no past weeks: nothing is judged against a usual it does not have.
    assert (limits.json()["findings"], limits.json()["compared_days"]) == ([], 0)
