"""Calls through a real coturn: both pages forced onto the relay (``?ice=relay``), as on networks
where no direct path exists. Proves that the credentials the server mints are accepted by coturn,
that media really flows through it, that bad credentials are refused, and that rotating the shared
secret in the order docs/turn.md gives does not cut a call in progress.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from chalicelib.ice import turn_credential
from localdev.redis_server import RedisServer
from localdev.turn import TurnServer, find_coturn, new_secret
from tests.browser.conftest import Pages, call_failed
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


def allocates(turn: TurnServer, secret: str, user: str = "probe", ttl: int = 600) -> bool:
    """Whether coturn grants a fresh allocation to a credential the app makes with ``secret``."""
    username = f"{int(time.time()) + ttl}:{user}"
    return turn.allocates(username, turn_credential(secret, username))


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
def turn(coturn: str, request: pytest.FixtureRequest) -> Iterator[TurnServer]:
    """A coturn of the test's own, accepting one fresh secret, so the test can break the pairing."""
    server = TurnServer([new_secret()], binary=coturn).start()
    yield server
    if call_failed(request):
        print(f"---- coturn log ----\n{server.log_tail(60)}")
    server.stop()


def close(pages: Pages | None, gateway: Gateway | None) -> None:
    """What the ``pages`` and ``gateway`` fixtures do after a test, for the ones opened here."""
    errors = []
    if pages is not None:
        pages.close()
        errors = [f"{v.label}: {e}" for v in pages.visitors for e in v.errors]
    if gateway is not None:
        gateway.close()
    assert not errors, "the page logged errors:\n" + "\n".join(errors)


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
    # The banner is printed just after the gateway starts answering: give it a moment.
    deadline = time.monotonic() + 10
    while (banner := re.search(r"TURN relay\s+(\S+)", gateway.output())) is None and time.monotonic() < deadline:
        time.sleep(0.1)
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
        close(pages, gateway)


def test_an_expired_credential_is_refused_by_coturn_and_the_page_says_the_video_link_failed(
    turn: TurnServer, redis_server: RedisServer, browser: Browser
) -> None:
    secret = turn.initial_secrets[0]
    gateway = _relay_gateway(redis_server, env={"TURN_URLS": ",".join(turn.urls), "TURN_SECRET": secret})
    pages = Pages(browser, gateway)
    # Signed with the right secret, but its lifetime ended a minute ago.
    expired = f"{int(time.time()) - 60}:expired-visitor"
    script = _replace_turn_credentials(expired, turn_credential(secret, expired))
    try:
        a, b = _pair_relayed(pages, init_script=script)
        expect_video_link_failed_but_chat_works(a, b)
        assert expired in turn.log(), turn.log_tail()
    finally:
        close(pages, gateway)


def _pair_relayed(pages: Pages, first: str = "Ana", second: str = "Bo", init_script: str = "") -> tuple[Page, Page]:
    """Two visitors, both forced onto the relay, matched with each other."""
    a = pages.open(first, init_script=init_script, query=RELAY)
    start_chat(a, first)
    status(a).to_contain_text("Looking for someone")
    b = pages.open(second, init_script=init_script, query=RELAY)
    start_chat(b, second)
    status(a).to_contain_text(f"Connected to {second}")
    status(b).to_contain_text(f"Connected to {first}")
    return a, b


def test_rotating_the_secret_in_the_documented_order_keeps_calls_going(
    turn: TurnServer, redis_server: RedisServer, browser: Browser
) -> None:
    """docs/turn.md's order: the relay accepts the new secret, then the app mints with it, and
    the old secret goes only after the old credentials' TTL. Calls at every stage keep going."""
    old, new = turn.initial_secrets[0], new_secret()
    env = {"TURN_URLS": ",".join(turn.urls)}
    before = _relay_gateway(redis_server, env={**env, "TURN_SECRET": old})
    early = Pages(browser, before)
    after: Gateway | None = None
    late: Pages | None = None
    try:
        a, b = _pair_relayed(early)
        for page in (a, b):
            wait_remote_video_plays(page)
            assert_call_is_relayed(page)

        # 1. The relay accepts both secrets.
        turn.add_secret(new)
        assert allocates(turn, old) and allocates(turn, new)
        # 2. The app mints with the new one: a process started now (a new deploy, or a cold
        # start after the secret changed) while warm ones still mint with the old one.
        after = Gateway(redis_server.url, env={**env, "TURN_SECRET": new}).start()
        late = Pages(browser, after)
        c, d = _pair_relayed(late, "Cy", "Di")
        for page in (c, d):
            wait_remote_video_plays(page)
            assert_call_is_relayed(page)
        for page in (a, b):
            wait_frames_grow(page)  # the call from before the rotation is untouched
        assert allocates(turn, old)  # a credential an old process just minted still works

        # 3. After TURN_TTL_SECONDS no valid credential carries the old secret: remove it.
        turn.remove_secret(old)
        assert not allocates(turn, old) and allocates(turn, new)
        for page in (a, b, c, d):
            wait_frames_grow(page)  # coturn checked each allocation's key once, when it was made
            assert page.evaluate("() => window.__rvc.pc().connectionState") == "connected"
    finally:
        try:
            close(early, before)
        finally:
            close(late, after)
