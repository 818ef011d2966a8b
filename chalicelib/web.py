"""Serving the static web client from the app's REST API, so the page ships with the functions.

The files live in ``chalicelib/web/`` (Chalice packages everything under ``chalicelib``). They
are read once per container and cached; the page asks ``/config`` where the WebSocket API is.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent / "web"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Permissions-Policy": "camera=(self), microphone=(self)",
}


def asset(name: str) -> tuple[str, str] | None:
    """(body, content type) of a file directly inside the web directory, or None. Only names
    that exist are cached, so requests for made-up names cannot grow the cache."""
    if "/" in name or "\\" in name or name.startswith(".") or name not in _files():
        return None
    return _read(name)


@cache
def _files() -> frozenset[str]:
    return frozenset(
        path.name for path in WEB_DIR.iterdir() if path.is_file() and path.suffix in CONTENT_TYPES
    )


@cache
def _read(name: str) -> tuple[str, str]:
    path = WEB_DIR / name
    return path.read_text(encoding="utf-8"), CONTENT_TYPES[path.suffix]
