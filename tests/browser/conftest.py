"""Browser fixtures: Debian's Chromium driven by Playwright's sync API, a fresh local gateway per
test on the session's Valkey, and pages whose console is recorded and must stay free of errors.

Playwright's sync API runs its own event loop in this thread, so nothing here uses asyncio.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from localdev.redis_server import RedisServer
from tests.browser.support import CHROMIUM_ARGS, Gateway, find_chromium

# Generous: two or three pages encode and decode video on a 2-core CI machine.
expect.set_options(timeout=30_000)

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# A visitor who refuses the camera: the page must fall back to text-only mode.
DENY_CAMERA = """
if (navigator.mediaDevices) {
  navigator.mediaDevices.getUserMedia = () =>
    Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
}
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gateway_options(schedule_interval=None, env=None): how the test's local gateway runs (see Gateway)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # Remember each phase's outcome so fixtures can print logs when a test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def call_failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is None or report.failed


@pytest.fixture(scope="package")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must run the browser tests", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def gateway(redis_server: RedisServer, request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """A fresh ``python -m localdev`` per test, on an empty Redis, so no visitor outlives its test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    marker = request.node.get_closest_marker("gateway_options")
    gw = Gateway(redis_server.url, **(marker.kwargs if marker else {})).start()
    yield gw
    gw.stop()
    if call_failed(request):
        print(f"---- gateway log ----\n{gw.output()[-6000:]}")
    gw.close()


@dataclass
class Visitor:
    label: str
    context: BrowserContext
    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Pages:
    """Opens the app in separate browser contexts (separate people) and watches their consoles."""

    def __init__(self, browser: Browser, gateway: Gateway) -> None:
        self.browser = browser
        self.gateway = gateway
        self.visitors: list[Visitor] = []
        self.allowed_errors: list[re.Pattern[str]] = []

    def open(
        self,
        label: str,
        *,
        camera: bool = True,
        viewport: dict[str, int] | None = None,
        init_script: str = "",
        query: str = "",
    ) -> Page:
        """A new visitor on the app's page; ``init_script`` runs before the page's own scripts,
        ``query`` is added to the page's address (``?ice=relay``)."""
        context = self.browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        if not camera:
            context.add_init_script(DENY_CAMERA)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        visitor = Visitor(label, context, page)
        page.on("console", lambda msg: self._console(visitor, msg.type, msg.text))
        page.on("pageerror", lambda exc: visitor.errors.append(f"uncaught: {exc}"))
        self.visitors.append(visitor)
        page.goto(self.gateway.url + query)
        page.wait_for_function("() => window.__rvc !== undefined")
        return page

    def allow_errors(self, pattern: str) -> None:
        """Console errors matching ``pattern`` are expected in this test (say, a refused socket)."""
        self.allowed_errors.append(re.compile(pattern))

    def _console(self, visitor: Visitor, kind: str, text: str) -> None:
        visitor.console.append(f"{kind}: {text}")
        if kind == "error" and not any(p.search(text) for p in self.allowed_errors):
            visitor.errors.append(text)

    def close(self) -> None:
        for visitor in self.visitors:
            visitor.context.close()


@pytest.fixture
def pages(browser: Browser, gateway: Gateway, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser, gateway)
    yield opened
    opened.close()
    if call_failed(request):
        for visitor in opened.visitors:
            print(f"---- console of {visitor.label} ----\n" + "\n".join(visitor.console[-80:]))
    errors = [f"{v.label}: {e}" for v in opened.visitors for e in v.errors]
    assert not errors, "the page logged errors (a CSP violation shows up here too):\n" + "\n".join(errors)
