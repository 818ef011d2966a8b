"""The page keeps going when the WebSocket drops or the server forgets it."""

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import Page, expect

from localdev.redis_server import RedisServer
from tests.browser.conftest import Pages
from tests.browser.support import (
    pair,
    screenshot,
    send_chat,
    status,
    wait_connected,
    wait_remote_video_plays,
)

pytestmark = pytest.mark.timeout(150)


def connected_pair(pages: Pages) -> tuple[Page, Page]:
    a, b = pair(pages)
    wait_connected(a)
    wait_connected(b)
    return a, b


# The pages come back on their back-off schedule (up to 16 s between tries by then), after a
# gateway restart of a few seconds: the seat must still be held when they do. This test is about
# coming back, not about how long the seat is held (tests/features/test_resume.py is).
# Which of the two is back first decides who hears `peer-resumed`; the call must start either way,
# so each order is taken in turn: the one who is kept offline comes back second.
@pytest.mark.gateway_options(env={"RESUME_GRACE_SECONDS": "60"})
@pytest.mark.parametrize("first_back", ["initiator", "responder"])
def test_dropped_sockets_reconnect_and_resume_the_same_chat(pages: Pages, first_back: str):
    pages.allow_errors(r"WebSocket connection to .* failed")  # while the gateway is down
    pages.allow_errors(r"Failed to load resource: net::ERR_(CONNECTION_REFUSED|INTERNET_DISCONNECTED)")
    a, b = connected_pair(pages)
    room = a.evaluate("() => window.__rvc.room()")
    a_offers = a.evaluate("() => window.__rvc.initiator()")
    assert a_offers is not b.evaluate("() => window.__rvc.initiator()")
    send_chat(a, "before the outage")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["before the outage"])

    pages.gateway.stop()  # every socket closes; the server holds both seats for the grace period
    for page, peer in ((a, "Bo"), (b, "Ana")):
        status(page).to_contain_text("Connection lost")
        expect(page.locator("#chat-log .msg-system").last).to_have_text(
            f"Connection lost. Trying to get back to {peer}…"
        )
        assert page.evaluate("() => window.__rvc.pc()") is None
    screenshot(a, "connection-lost-ana.png")

    first, second = (a, b) if a_offers == (first_back == "initiator") else (b, a)
    second.context.set_offline(True)
    pages.gateway.start()  # same port and Redis: the pages retry with back-off and resume
    status(first).to_contain_text("lost their connection. Waiting for them", timeout=60_000)
    second.context.set_offline(False)  # back online, the page retries at once
    status(a).to_contain_text("Connected to Bo", timeout=60_000)
    status(b).to_contain_text("Connected to Ana", timeout=60_000)
    wait_connected(a)
    wait_connected(b)
    wait_remote_video_plays(a)
    assert a.evaluate("() => window.__rvc.room()") == room == b.evaluate("() => window.__rvc.room()")
    for page, peer in ((a, "Bo"), (b, "Ana")):
        expect(page.locator("#chat-log .msg-system", has_text="Reconnected")).to_have_text(
            [f"Reconnected. You are back with {peer}."]
        )
    send_chat(a, "we are back")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["before the outage", "we are back"])


def test_server_that_forgot_the_connection_makes_the_page_reconnect_and_register_again(
    pages: Pages, redis_server: RedisServer
):
    a, b = connected_pair(pages)
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()  # the server loses every connection record, as after a cache failover
    client.close()

    send_chat(a, "anyone there?")  # answered with error not_connected
    status(a).to_contain_text("Looking for someone")
    send_chat(b, "hello?")
    status(a).to_contain_text("Connected to Bo")
    status(b).to_contain_text("Connected to Ana")
    wait_connected(a)
    wait_connected(b)
    send_chat(b, "found you again")
    # "hello?" may arrive too: typing it sends a `typing` frame, which can be the one that learns
    # of the lost record, so Bo may already be back in a room with Ana when it is sent.
    expect(a.locator("#chat-log .msg-peer .msg-text").last).to_have_text("found you again")
