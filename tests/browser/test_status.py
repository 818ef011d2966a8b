"""The status line tells the truth (issue 16): countdowns tick, offline is offline, a service never
reached is not a "lost" connection, and a call whose video is still connecting is not green."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Pages
from tests.browser.support import FLAKY_NETWORK, pair, start_chat, status, wait_connected
from tests.browser.test_call import NO_DIRECT_LINKS

pytestmark = pytest.mark.timeout(150)

# Every text the status line shows from now on, in order (a MutationObserver, so none is missed).
RECORD_STATUS = """() => {
  window.__statuses = [document.getElementById('status-text').textContent];
  new MutationObserver(() => {
    const text = document.getElementById('status-text').textContent;
    if (window.__statuses.at(-1) !== text) window.__statuses.push(text);
  }).observe(document.getElementById('status'), { subtree: true, childList: true, characterData: true });
}"""


def statuses(page: Page) -> list[str]:
    return page.evaluate("() => window.__statuses")


def tone(page: Page) -> str:
    return page.evaluate("() => document.getElementById('status').dataset.tone")


def counted_down(texts: list[str], pattern: str) -> list[int]:
    """The seconds of consecutive texts matching ``pattern`` (with one (\\d+) group)."""
    return [int(m.group(1)) for m in (re.search(pattern, text) for text in texts) if m]


def test_a_retry_countdown_ticks_down_to_the_retry(pages: Pages):
    a = pages.open("Ana")
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    a.evaluate(RECORD_STATUS)
    a.evaluate(
        """() => window.__rvc.deliver({event: 'error', code: 'rate_limited', message: 'slow down',
                                      retry_after_ms: 4000, action: 'register'})"""
    )
    status(a).to_contain_text("Too many tries in a row. Trying again in 4 s…")
    status(a).to_contain_text("Trying again in 2 s…", timeout=3_000)
    status(a).to_contain_text("Looking for someone", timeout=5_000)  # and it did try again
    seconds = counted_down(statuses(a), r"Trying again in (\d+) s")
    assert seconds == [4, 3, 2, 1], statuses(a)


def test_a_service_never_reached_is_not_a_lost_connection_and_its_countdown_ticks(pages: Pages):
    pages.allow_errors(r"WebSocket connection to .* failed")
    a = pages.open("Ana", init_script=FLAKY_NETWORK)
    a.evaluate("() => window.__net.cut()")  # no socket will open
    a.evaluate(RECORD_STATUS)
    start_chat(a, "Ana")
    status(a).to_contain_text("Can't reach the chat service. Retrying in")
    # The back-off doubles: wait for a retry some seconds away, and watch it count down.
    a.wait_for_function(
        """() => window.__statuses.some((text) => /Retrying in [3-9] s/.test(text))""", timeout=30_000, polling=100
    )
    a.wait_for_function(
        """() => {
          const seconds = window.__statuses.map((text) => /Retrying in (\\d+) s/.exec(text)?.[1]).map(Number);
          return seconds.some((s, i) => i > 0 && s === seconds[i - 1] - 1);
        }""",
        timeout=15_000,
        polling=100,
    )
    assert not any("Connection lost" in text for text in statuses(a)), statuses(a)
    expect(a.locator("#chat-log .msg-system", has_text="Connection lost")).to_have_count(0)

    a.evaluate("() => window.__net.mend()")  # the network is back: it tries at once
    status(a).to_contain_text("Looking for someone", timeout=10_000)
    a.evaluate("() => window.__net.cut()")  # now a connection is lost: it says so
    status(a).to_contain_text("Connection lost. ")
    a.evaluate("() => window.__net.mend()")
    status(a).to_contain_text("Looking for someone", timeout=10_000)


def test_offline_follows_the_browser_and_the_status_comes_back_with_the_network(pages: Pages):
    pages.allow_errors(r"net::ERR_INTERNET_DISCONNECTED")  # the people-online figure, while offline
    pages.allow_errors(r"WebSocket connection to .* failed")
    idle = pages.open("Idle")
    idle.context.set_offline(True)
    status(idle).to_have_text("You are offline. Connect to the internet to start.")
    assert tone(idle) == "error"
    idle.context.set_offline(False)
    status(idle).to_have_text("Press Start to meet a random stranger.")

    a, b = pair(pages)
    wait_connected(a)
    a.context.set_offline(True)
    status(a).to_have_text("You are offline. Waiting for the network…")
    assert tone(a) == "error"
    a.context.set_offline(False)
    # Whatever happened meanwhile (the socket may have dropped and come back), the line says it.
    status(a).not_to_contain_text("offline")
    status(a).to_contain_text("Connected to Bo", timeout=30_000)


def test_a_call_whose_video_is_still_connecting_is_not_green_and_its_failure_shows_within_15_s(pages: Pages):
    a = pages.open("Ana", init_script=NO_DIRECT_LINKS)
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Bo")
    start_chat(b, "Bo")
    status(a).to_contain_text("Connected to Bo. Video still connecting…")
    matched_at = time.monotonic()
    assert tone(a) == "busy"  # not the green "ok"
    expect(a.get_by_role("alert")).to_contain_text("The video connection with Bo failed", timeout=15_000)
    assert time.monotonic() - matched_at < 15
    status(a).to_contain_text("No video with Bo. Press Next to meet someone else.")
    assert tone(a) == "warn"


def test_the_status_turns_green_only_once_the_video_is_connected(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    status(a).to_have_text("Connected to Bo")
    assert tone(a) == "ok"
