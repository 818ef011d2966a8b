"""The page itself: its files, its URLs and how it looks before anyone starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, Pages
from tests.browser.support import add_interests, screenshot

pytestmark = pytest.mark.timeout(60)

WEB_DIR = Path(__file__).resolve().parents[2] / "chalicelib" / "web"


def test_page_uses_only_relative_urls_so_it_works_under_an_api_gateway_stage():
    html = (WEB_DIR / "index.html").read_text()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, "index.html links its scripts and styles"
    for url in urls:
        assert url.startswith(("static/", "#")), url
    for module in WEB_DIR.glob("*.js"):
        for target in re.findall(r"""^import .* from ['"]([^'"]+)['"];$""", module.read_text(), re.M):
            assert target.startswith("./"), f"{module.name} imports {target}"


def test_client_files_contain_no_inline_script_style_or_html_injection():
    html = (WEB_DIR / "index.html").read_text()
    assert "<style" not in html and " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, "inline scripts are refused by the CSP"
    for module in WEB_DIR.glob("*.js"):
        source = module.read_text()
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "alert(", "eval("):
            assert forbidden not in source, f"{module.name} uses {forbidden}"


def test_page_loads_under_its_content_security_policy_and_waits_for_start(pages: Pages):
    page = pages.open("visitor")
    response = page.request.get(pages.gateway.url)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#status")).to_contain_text("Press Start")
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    expect(page.get_by_label("Your name")).to_be_visible()
    expect(page.get_by_label("Message to the stranger")).to_be_disabled()
    assert page.evaluate("() => window.__rvc.state()") == "idle"


def test_page_fits_a_phone_screen_without_sideways_scrolling(pages: Pages):
    page = pages.open("phone", viewport=PHONE)
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "phone-idle.png")
    add_interests(page, "music, films, photography, hiking, a-long-interest-of-24-char")
    expect(page.locator("#interests-list .interest-chip")).to_have_count(5)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.get_by_role("button", name="Start").bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], "Start is off screen"
    # The taller form must not cover the chat box above it.
    chat = page.locator(".chat").bounding_box()
    controls = page.locator(".controls").bounding_box()
    assert chat is not None and controls is not None and chat["y"] + chat["height"] <= controls["y"] + 1
    screenshot(page, "phone-idle-interests.png")


def test_controls_are_reachable_with_the_keyboard(pages: Pages):
    page = pages.open("keyboard")
    reached = set()
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("() => document.activeElement.id || document.activeElement.tagName"))
    assert {"name-input", "interests-input", "start"} <= reached
    page.focus("#name-input")
    page.keyboard.type("Kim")
    page.keyboard.press("Enter")  # Enter in the name field starts
    expect(page.locator("#status")).to_contain_text("Looking for someone")
    # Focus leaves the hidden field, but never for Stop (issue 16): a second Enter or space
    # bar must not end the session it just started.
    expect(page.get_by_role("button", name="Stop")).not_to_be_focused()
    assert page.evaluate("() => document.activeElement !== document.body")
    page.keyboard.press("Enter")
    page.keyboard.press("Space")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__rvc.state()") == "searching"
