"""The page's files: content-hashed names kept for a year, the page revalidated by its ETag, every
module preloaded; so a repeat visit asks the API for the page, config and stats, and no more."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chalicelib import web
from tests.browser.conftest import Pages

pytestmark = pytest.mark.timeout(90)

WEB_DIR = Path(__file__).resolve().parents[2] / "chalicelib" / "web"
REST_LINE = re.compile(r"\brest\s+GET (\S+)")


def test_hashed_names_are_immutable_and_plain_names_revalidate():
    for name in ("app.js", "session.js", "style.css", "icon.svg"):
        hashed = web.hashed_name(name)
        assert hashed is not None and re.fullmatch(rf"{name.split('.')[0]}\.[0-9a-f]{{12}}\.{name.split('.')[1]}", hashed)
        immutable = web.reply(hashed)
        assert immutable is not None and immutable.status == 200
        assert immutable.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        plain = web.reply(name)
        assert plain is not None and plain.headers["Cache-Control"] == "no-cache"
        assert plain.body == immutable.body and plain.headers["ETag"] == immutable.headers["ETag"]
        assert "script-src 'self'" in plain.headers["Content-Security-Policy"]


def test_the_page_answers_304_to_its_own_etag():
    page = web.reply(web.INDEX)
    assert page is not None and page.status == 200 and page.headers["Cache-Control"] == "no-cache"
    etag = page.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = web.reply(web.INDEX, header)
        assert again is not None and again.status == 304 and again.body == "", header
        assert again.headers["ETag"] == etag
    changed = web.reply(web.INDEX, '"0123456789abcdef0123456789abcdef"')
    assert changed is not None and changed.status == 200 and changed.body == page.body


def test_the_page_and_the_modules_refer_to_each_other_by_hashed_names_and_preload_them_all():
    page = web.reply(web.INDEX)
    assert page is not None
    modules = {path.name for path in WEB_DIR.glob("*.js")}
    assert set(web.module_graph()) == modules, "every module is loaded by app.js (or is dead code)"
    preloaded = re.findall(r'<link rel="modulepreload" href="static/([^"]+)">', page.body)
    assert sorted(preloaded) == sorted(web.hashed_name(name) for name in modules - {"app.js"})
    assert f'<script type="module" src="static/{web.hashed_name("app.js")}"></script>' in page.body
    for reference in re.findall(r'(?:src|href)="static/([^"]+)"', page.body):
        assert web.reply(reference).headers["Cache-Control"].endswith("immutable"), reference
    for name in modules:
        body = web.reply(name).body
        for target in re.findall(r"""from\s*['"]\./([^'"]+)['"]""", body):
            assert web.reply(target).headers["Cache-Control"].endswith("immutable"), f"{name} imports {target}"


def test_an_old_hashed_name_gets_the_current_file_but_not_for_keeps_and_unknown_names_404():
    stale = web.reply("session.000000000000.js")
    assert stale is not None and stale.body == web.reply("session.js").body
    assert stale.headers["Cache-Control"] == "no-cache"
    for name in ("nope.js", "nope.0123456789ab.js", "../app.py", ".hidden.js", "config.py"):
        assert web.reply(name) is None, name


def test_a_repeat_visit_asks_the_api_for_the_page_config_and_stats_only(pages: Pages):
    first = pages.open("visitor")
    first.wait_for_load_state("networkidle")
    headers = first.request.get(pages.gateway.url).headers
    assert headers["cache-control"] == "no-cache" and headers["etag"]
    context = first.context
    first.close()
    time.sleep(0.5)  # the gateway writes its log line after the answer
    already = len(pages.gateway.output().splitlines())

    again = context.new_page()
    again.on("console", lambda message: print(f"console: {message.text}"))
    again.goto(pages.gateway.url)
    again.wait_for_function("() => window.__rvc !== undefined")
    again.wait_for_load_state("networkidle")
    expect(again.get_by_role("button", name="Start")).to_be_visible()
    time.sleep(0.5)
    asked = REST_LINE.findall("\n".join(pages.gateway.output().splitlines()[already:]))
    assert len(asked) <= 3 and set(asked) <= {"/", "/config", "/stats"}, asked
    assert "/" in asked, "the page itself is revalidated (and answered 304)"
    # And in the page's own view: every script, style and image came from the cache.
    fetched = again.evaluate(
        """() => performance.getEntriesByType('resource')
                 .filter((entry) => entry.name.includes('/static/') && entry.transferSize > 0)
                 .map((entry) => entry.name)"""
    )
    assert fetched == []
