"""The pages' static files (`web/static/`): read once, served with a content hash.

A page links each file as `/static/<name>?v=<hash>`; a request with the current hash may be cached
for a year (the next release links a new hash), any other only with revalidation (`ETag`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    digest: str  # 16 hex digits of SHA-256


@cache
def assets() -> dict[str, Asset]:
    """Every file in web/static, by name (no folders: nothing to traverse)."""
    found: dict[str, Asset] = {}
    for entry in files("web").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in TYPES:
            body = entry.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            found[entry.name] = Asset(body, TYPES[suffix], digest)
    return found


def url(name: str) -> str:
    """The versioned URL of a static file (KeyError for one that does not exist)."""
    return f"/static/{name}?v={assets()[name].digest}"
