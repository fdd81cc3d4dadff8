"""Security headers on every response, and CORS with an allow-list per organisation.

Every answer (errors, 404s and the 500 of a crash included) says `X-Content-Type-Options:
nosniff` and `Referrer-Policy: no-referrer`, and `Strict-Transport-Security` when it went over
TLS. A page (HTML) also gets a Content-Security-Policy that allows the inline scripts and styles
of the product's own pages by their hash (computed from the page files at start, never from a
response: a hash of what is sent would bless a script injected into it), no framing except for
the board (a screen may embed it), and the legacy X-Frame-Options. Headers a route set itself
are kept; a page's own policy without `frame-ancestors` gets a second policy that adds it (a
browser enforces both).

CORS: a preflight from an origin the deployment (VQ_CORS_ORIGINS) or any organisation allows is
answered 204; from any other origin, 403. A preflight carries no credentials, so it cannot say
which organisation asks: `origin_allowed()` checks the caller's own organisation once the caller
is known.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from importlib.resources import files
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders, State
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from access.org_settings import CACHE_TTL_S, all_cors_origins, normal_origin, org_settings
from core.errors import Unavailable
from core.settings import Settings
from http_api.errors import problem_response
from http_api.problems import ProblemError

log = logging.getLogger("vq.api")

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = (
    "Authorization, Content-Type, Idempotency-Key, If-Match, X-Correlation-Id, Last-Event-ID, "
    "X-Ticket-Token"
)
EXPOSE_HEADERS = (
    "Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
    "RateLimit-Policy, Idempotent-Replayed, ETag"
)
PREFLIGHT_MAX_AGE_S = 600
HSTS = "max-age=31536000; includeSubDomains"
# Pages with inline scripts or styles, which the page policy allows by hash: none any more (every
# page's code is a file of web/static/, allowed as 'self'); kept for a page that needs one.
PAGES: tuple[tuple[str, str], ...] = ()
# Pages a screen may show inside a frame of the same site.
FRAMEABLE_PREFIXES = ("/board/", "/display")
# FastAPI's documentation pages load Swagger UI and ReDoc from their CDN, and run an inline
# script FastAPI writes (with the root path in it, so no fixed hash fits): they alone allow
# inline code. They show the API's own document, never a caller's input.
DOCS_SOURCES = (
    "default-src 'self'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "font-src 'self' https://fonts.gstatic.com data:; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'"
)

# Where the app's outermost layer leaves the send it was given (the server's) in the scope: a live
# stream (query_api/live_stream.py) sends its head through every layer, then its events to this
# one, past the layers in between, which act on an answer's start only. A layer that needs to see
# or change an event stream's body (compression, say) must not be added without taking this out.
SERVER_SEND = "vq.server_send"

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.S | re.I)
_STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)


def _sha256(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def page_sources(pages: Iterable[str]) -> str:
    """The script and style sources that let `pages` (HTML text) run as written: each inline
    script, style element and style attribute by its hash, nothing else inline."""
    scripts: dict[str, None] = {}
    styles: dict[str, None] = {}
    attributes: dict[str, None] = {}
    for page in pages:
        for attrs, body in _SCRIPT.findall(page):
            if "src" not in attrs.lower():
                scripts[_sha256(body)] = None
        for body in _STYLE.findall(page):
            styles[_sha256(body)] = None
        for double, single in _STYLE_ATTRIBUTE.findall(page):
            attributes[_sha256(html.unescape(double or single))] = None
    script_src = " ".join(["'self'", *scripts])
    style_src = " ".join(["'self'", *styles])
    if attributes:  # CSP 3: a style attribute is allowed by hash only with 'unsafe-hashes'
        style_src += " 'unsafe-hashes' " + " ".join(attributes)
    return (
        f"default-src 'self'; script-src {script_src}; "
        f"style-src {style_src}; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'"
    )


def _read_pages() -> list[str]:
    found = []
    for package, name in PAGES:
        try:
            found.append(files(package).joinpath(name).read_text(encoding="utf-8"))
        except (ModuleNotFoundError, OSError):
            log.warning("page %s/%s not found: its inline code will be refused", package, name)
    return found


def own_origin(url: str) -> str | None:
    """The origin of a base URL (`public_url`), None when it has none."""
    parts = urlsplit(url)
    try:
        return normal_origin(f"{parts.scheme}://{parts.netloc}")
    except ValueError:
        return None


def _origin(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normal_origin(value)
    except ValueError:  # "null" (a sandboxed frame, a file), or garbage: no origin to allow
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class Origins:
    """The origins browsers may call the API from: the API's own, the deployment's list, and
    (for preflights and response headers) every organisation's, re-read every few seconds. If
    PostgreSQL cannot answer, the last list read stays in use."""

    def __init__(
        self, settings: Settings, state: State, clock: Callable[[], float] = time.monotonic
    ) -> None:
        raw = [part for part in settings.cors_origins.split(",") if part.strip()]
        try:
            self.listed = frozenset(normal_origin(part) for part in raw)
        except ValueError as refused:
            raise ValueError(f"VQ_CORS_ORIGINS: {refused}") from None
        self.own = own_origin(settings.public_url)
        self._state = state
        self._clock = clock
        self._tenants: frozenset[str] = frozenset()
        self._read_at = -math.inf
        self._reading: asyncio.Future[frozenset[str]] | None = None
        self._warned_at = -math.inf

    def same_site(self, origin: str, scope: Scope) -> bool:
        """The API's own origin: its public URL's, or the one the request was sent to."""
        if origin == self.own:
            return True
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", ""), scope.get("scheme"))
        return origin == _origin(f"{scheme}://{_header(scope, b'host') or ''}")

    async def anywhere(self, origin: str, scope: Scope) -> bool:
        """Allowed for the deployment or for some organisation."""
        if origin in self.listed or self.same_site(origin, scope):
            return True
        return origin in await self._every_tenants()

    async def _every_tenants(self) -> frozenset[str]:
        if self._clock() - self._read_at < CACHE_TTL_S:
            return self._tenants
        if self._reading is None or self._reading.done():
            # One read however many requests wait for it.
            self._reading = asyncio.ensure_future(self._read())
        return await asyncio.shield(self._reading)

    async def _read(self) -> frozenset[str]:
        pool = getattr(getattr(self._state, "services", None), "pool", None)
        if pool is None:
            return self._tenants
        try:
            self._tenants = await all_cors_origins(pool)
        except Exception as failure:  # an allow-list must never turn an answer into a crash
            if self._clock() - self._warned_at >= 60:
                self._warned_at = self._clock()
                log.warning(
                    "CORS: the organisations' origins could not be read (%s: %s); the last "
                    "list read stays in use",
                    type(failure).__name__,
                    failure,
                    exc_info=not isinstance(failure, Unavailable),
                )
        self._read_at = self._clock()  # failed too: a dead database is not asked every request
        return self._tenants


async def origin_allowed(conn: HTTPConnection, tenant_id: str) -> bool:
    """Whether the request's origin may call the API for `tenant_id`: no Origin (not a
    browser's cross-origin call), the API's own origin, the deployment's list, or the
    organisation's own list."""
    sent = conn.headers.get("origin")
    if sent is None:
        return True
    origin = _origin(sent)
    if origin is None:
        return False
    origins: Origins = conn.app.state.cors
    if origin in origins.listed or origins.same_site(origin, conn.scope):
        return True
    settings = await org_settings(conn.app.state.services.pool, tenant_id)
    return origin in settings.cors_origins


class SecurityMiddleware:
    """Pure ASGI (an event stream passes untouched); the outermost layer of the app."""

    def __init__(self, app: ASGIApp, origins: Origins, docs_paths: frozenset[str]) -> None:
        self.app = app
        self.origins = origins
        self.docs_paths = docs_paths
        pages = page_sources(_read_pages())
        self.page_policy = f"{pages}; frame-ancestors 'none'"
        self.frameable_policy = f"{pages}; frame-ancestors 'self'"
        self.docs_policy = f"{DOCS_SOURCES}; frame-ancestors 'none'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Taken out again at the end: the server's send refers to its request cycle, which holds
        # this scope; left in, every request is a reference cycle that only the collector's rare
        # full passes free (vq/api.py FULL_GC_EVERY): ~10 KB of memory per request under load.
        scope[SERVER_SEND] = send
        try:
            await self._call(scope, receive, send)
        finally:
            scope.pop(SERVER_SEND, None)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_origin = _header(scope, b"origin")
        origin = _origin(sent_origin)
        allowed = origin is not None and await self.origins.anywhere(origin, scope)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._secure(scope, MutableHeaders(scope=message), origin if allowed else None)
            await send(message)

        preflight = scope["method"] == "OPTIONS" and sent_origin is not None
        if preflight and _header(scope, b"access-control-request-method") is not None:
            await self._preflight(scope, receive, send_secured, allowed)
            return
        await self.app(scope, receive, send_secured)

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, allowed: bool) -> None:
        if not allowed:
            refused = ProblemError("origin-not-allowed", "this origin may not call the API")
            await problem_response(refused, Request(scope))(scope, receive, send)
            return
        headers = {
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }
        await Response(status_code=204, headers=headers)(scope, receive, send)

    def _secure(self, scope: Scope, headers: MutableHeaders, origin: str | None) -> None:
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        if scope.get("scheme") == "https":
            headers.setdefault("Strict-Transport-Security", HSTS)
        if headers.get("content-type", "").lower().startswith("text/html"):
            self._secure_page(scope.get("path", ""), headers)
        vary = headers.get("vary")
        if vary is None:
            headers["Vary"] = "Origin"
        elif vary.strip() != "*" and "origin" not in vary.lower():
            headers["Vary"] = f"{vary}, Origin"
        if origin is not None:
            headers.setdefault("Access-Control-Allow-Origin", origin)
            headers.setdefault("Access-Control-Expose-Headers", EXPOSE_HEADERS)

    def _secure_page(self, path: str, headers: MutableHeaders) -> None:
        frameable = path.startswith(FRAMEABLE_PREFIXES)
        own_policy = headers.get("content-security-policy")
        if own_policy is None:
            if path in self.docs_paths:
                headers["Content-Security-Policy"] = self.docs_policy
            else:
                headers["Content-Security-Policy"] = (
                    self.frameable_policy if frameable else self.page_policy
                )
        elif "frame-ancestors" not in own_policy.lower():
            ancestors = "'self'" if frameable else "'none'"
            headers.append("Content-Security-Policy", f"frame-ancestors {ancestors}")
        headers.setdefault("X-Frame-Options", "SAMEORIGIN" if frameable else "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")


def install(app: FastAPI, settings: Settings) -> None:
    """Make the security headers and CORS the app's outermost layer (outside even the handler
    of crashes, so a 500 carries them too). `origin_allowed()` finds the origins on
    `app.state.cors`."""
    origins = Origins(settings, app.state)
    app.state.cors = origins
    docs = frozenset(
        p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p
    )
    build = app.build_middleware_stack

    def build_secured() -> ASGIApp:
        return SecurityMiddleware(build(), origins, docs)

    app.build_middleware_stack = build_secured  # type: ignore[method-assign]
