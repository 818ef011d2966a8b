"""Serving the static web client from the app's REST API, so the page ships with the functions.

The files live in ``chalicelib/web/`` (Chalice packages everything under ``chalicelib``). They
are read once per container and cached; the page asks ``/config`` where the WebSocket API is.

Every request for a file is a Lambda invocation behind API Gateway, so the browser must be able
to keep them. Each file is also served under a content-hashed name (``session.3f9a2c1b7d0e.js``)
that never changes meaning, with ``Cache-Control: immutable`` for a year: the page and the
modules refer to each other by these names, rewritten here as they are served, and a module's
hash covers the hashed names of what it imports, so a change anywhere gives every module that
depends on it a new name too. The page itself (``index.html``) is ``no-cache`` with an ``ETag``,
answered with 304 when unchanged, and lists every module as a ``modulepreload`` so that the
browser fetches them at once instead of one import level at a time. A repeat visit therefore
asks the API for the page (304), ``config`` and ``stats``, and nothing else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent / "web"
INDEX = "index.html"
ENTRY_MODULE = "app.js"

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

# A hashed name never changes meaning; a plain name, or the page, may change with any deploy.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

HASH_CHARS = 12
_HASHED_NAME = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_CHARS}}})(?P<suffix>\.[a-z]+)$")
# `from './x.js'`, `import './x.js'` and `import('./x.js')`: the only ways the modules load each other.
_IMPORT = re.compile(r"""(?P<head>\bfrom\s*|\bimport\s*\(?\s*)(?P<q>['"])\./(?P<name>[\w.-]+\.js)(?P=q)""")
# `static/x.css` in the page, in src and href attributes.
_PAGE_REF = re.compile(r"""(?P<attr>\b(?:src|href)=")static/(?P<name>[\w.-]+)(?P<end>")""")
_PRELOAD_MARK = "<!-- modulepreload -->"


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    etag: str  # quoted, as in the header
    hashed_name: str


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]


def asset(name: str) -> tuple[str, str] | None:
    """(body, content type) of a file directly inside the web directory (by its plain or its
    hashed name), or None. Only names that exist are known, so made-up names cannot grow a cache."""
    found = _lookup(name)
    return None if found is None else (found[0].body, found[0].content_type)


def reply(name: str, if_none_match: str | None = None) -> Reply | None:
    """The answer to ``GET /static/{name}`` (or ``GET /`` for ``index.html``), or None for 404:
    the body, or 304 when ``If-None-Match`` names the current ETag, with caching headers."""
    found = _lookup(name)
    if found is None:
        return None
    item, immutable = found
    headers = {
        "Content-Type": item.content_type,
        "Cache-Control": IMMUTABLE if immutable else REVALIDATE,
        "ETag": item.etag,
        **SECURITY_HEADERS,
    }
    if if_none_match and _etag_matches(if_none_match, item.etag):
        return Reply(304, "", headers)
    return Reply(200, item.body, headers)


def hashed_name(name: str) -> str | None:
    """The content-hashed name the page uses for file ``name`` (None for an unknown file)."""
    item = _bundle().get(name)
    return None if item is None else item.hashed_name


def _lookup(name: str) -> tuple[Asset, bool] | None:
    """(asset, immutable) for a plain or hashed name. A hashed name of a file whose content has
    changed since (a page of the last deploy) gets the current file, but not as immutable."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    files = _bundle()
    if name in files:
        return files[name], False
    match = _HASHED_NAME.match(name)
    if match is None:
        return None
    plain = match["stem"] + match["suffix"]
    item = files.get(plain)
    if item is None:
        return None
    return item, item.hashed_name == name


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return etag in candidates


@cache
def _bundle() -> dict[str, Asset]:
    """Every served file by its plain name, rewritten to refer to the others by hashed names."""
    sources = {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(WEB_DIR.iterdir())
        if path.is_file() and path.suffix in CONTENT_TYPES and not path.name.startswith(".")
    }
    done: dict[str, Asset] = {}
    visiting: set[str] = set()

    def build(name: str) -> Asset:
        if name in done:
            return done[name]
        if name in visiting:
            raise ValueError(f"{name} imports itself through other modules; the hashes need an acyclic graph")
        visiting.add(name)
        body = sources[name]
        if name.endswith(".js"):
            body = _IMPORT.sub(lambda m: _hashed_import(m, sources, build), body)
        elif name == INDEX:
            body = _render_page(body, sources, build)
        visiting.discard(name)
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
        path = Path(name)
        item = Asset(
            body=body,
            content_type=CONTENT_TYPES[path.suffix],
            etag=f'"{digest[:32]}"',
            hashed_name=f"{path.stem}.{digest[:HASH_CHARS]}{path.suffix}",
        )
        done[name] = item
        return item

    for name in sources:
        build(name)
    return done


def _hashed_import(match: re.Match[str], sources: dict[str, str], build) -> str:
    name = match["name"]
    if name not in sources:
        raise ValueError(f"a module imports ./{name}, which is not in {WEB_DIR}")
    return f"{match['head']}{match['q']}./{build(name).hashed_name}{match['q']}"


def module_graph(entry: str = ENTRY_MODULE) -> list[str]:
    """Every module ``entry`` loads, directly or not, itself first, in a stable order."""
    sources = {path.name: path.read_text(encoding="utf-8") for path in WEB_DIR.glob("*.js")}
    seen: list[str] = []
    pending = [entry]
    while pending:
        name = pending.pop(0)
        if name in seen or name not in sources:
            continue
        seen.append(name)
        pending.extend(m["name"] for m in _IMPORT.finditer(sources[name]))
    return seen


def _render_page(html: str, sources: dict[str, str], build) -> str:
    def ref(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in sources:
            raise ValueError(f"{INDEX} refers to static/{name}, which is not in {WEB_DIR}")
        return f"{match['attr']}static/{build(name).hashed_name}{match['end']}"

    html = _PAGE_REF.sub(ref, html)
    if _PRELOAD_MARK in html:
        # The entry module is loaded by its own <script>; the rest would otherwise wait for it.
        links = "\n  ".join(
            f'<link rel="modulepreload" href="static/{build(name).hashed_name}">' for name in module_graph()[1:]
        )
        html = html.replace(_PRELOAD_MARK, links)
    return html
