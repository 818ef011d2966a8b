"""Every state of the page at every screen size of issue 16: nothing wider than the screen, every
control on screen, none on top of another, a tap at a control's centre lands on it, and axe-core
finds no serious accessibility problem. Each state is saved as
test-artifacts/layout/{size}-{state}.png for people to look at."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.a11y import audit, serious
from tests.browser.conftest import Pages
from tests.browser.layout import SIZES, layout_problems
from tests.browser.support import (
    FLAKY_NETWORK,
    add_interests,
    screenshot,
    send_chat,
    start_chat,
    status,
    wait_connected,
    wait_remote_video_plays,
)

pytestmark = pytest.mark.timeout(240)

FAKE_ROOM = "room-with-eve"


class Looks:
    """Screenshots one state after another, and collects what is wrong with each."""

    def __init__(self, size: str) -> None:
        self.size = size
        self.problems: list[str] = []
        self.states: list[str] = []

    def __call__(self, page: Page, state: str) -> None:
        page.wait_for_timeout(350)  # transitions (a picture fading in or out) settle
        screenshot(page, f"layout/{self.size}-{state}.png")
        self.states.append(state)
        self.problems += [f"{state}: {problem}" for problem in layout_problems(page)]
        for violation in serious(audit(page)):
            nodes = "; ".join(violation["nodes"][:3])
            self.problems.append(f"{state}: axe, {violation['impact']}: {violation['id']} ({violation['help']}): {nodes}")

    def check(self) -> None:
        assert not self.problems, f"{self.size}:\n  " + "\n  ".join(self.problems)


@pytest.mark.parametrize("size", SIZES)
def test_a_chat_from_first_visit_to_stop_fits_the_screen(pages: Pages, size: str):
    look = Looks(size)
    a = pages.open("Ana", viewport=SIZES[size])
    expect(a.locator("#welcome")).to_be_visible()
    look(a, "idle-first-visit")
    add_interests(a, "music, films, photography, hiking, a-long-interest-of-24-char")
    look(a, "idle-interests")

    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    expect(a.locator("#local-tile")).to_have_attribute("data-video", "playing")
    look(a, "searching")

    b = pages.open("Bo")
    start_chat(b, "Bo", "films")
    status(a).to_contain_text("Connected to Bo")
    wait_connected(a)
    wait_remote_video_plays(a)
    expect(a.locator("#remote-tile")).to_have_attribute("data-video", "playing")
    send_chat(b, "Hi Ana! Where are you writing from?")
    send_chat(a, "Hello Bo, from a small screen")
    send_chat(b, "Nice. " + "This line is long enough to wrap on a phone. " * 2)
    expect(a.locator("#chat-log .msg-peer")).to_have_count(2)
    b.wait_for_timeout(500)  # a `typing` right behind a line is taken as part of it
    b.locator("#chat-input").press_sequentially("and", delay=30)
    expect(a.locator("#typing")).to_be_visible()
    look(a, "call")

    a.fill("#chat-input", "my phone number is 555")
    a.keyboard.press("Escape")
    expect(a.locator("#esc-hint")).to_be_visible()
    look(a, "esc-confirm")
    a.fill("#chat-input", "")

    a.get_by_role("button", name="Camera", exact=True).click()
    a.get_by_role("button", name="Microphone", exact=True).click()
    b.get_by_role("button", name="Camera", exact=True).click()
    expect(a.locator("#remote-placeholder-text")).to_have_text("Bo turned their camera off.")
    look(a, "camera-off")

    a.get_by_role("button", name="Report").click()
    expect(a.get_by_role("dialog", name="Report Bo")).to_be_visible()
    look(a, "report-dialog")
    a.keyboard.press("Escape")
    a.get_by_role("button", name="Choose camera and microphone").click()
    expect(a.get_by_role("dialog", name="Camera and microphone")).to_be_visible()
    look(a, "devices-dialog")
    a.keyboard.press("Escape")

    b.get_by_role("button", name="Next").click()
    status(a).to_contain_text("Stranger disconnected")
    look(a, "stranger-left")
    b.get_by_role("button", name="Stop").click()  # so the next stranger meets Ana

    a.get_by_role("button", name="Next").click()
    status(a).to_contain_text("Looking for someone")
    look(a, "searching-again")
    c = pages.open("Cy")
    start_chat(c, "Cy", "films")
    status(a).to_contain_text("Connected to Cy")
    a.get_by_role("button", name="Report").click()
    a.get_by_role("dialog").get_by_role("button", name="Spam or scam").click()
    expect(a.locator("#chat-log .msg-system").last).to_contain_text("Cy was reported")
    look(a, "reported")

    a.get_by_role("button", name="Stop").click()
    status(a).to_contain_text("Stopped")
    look(a, "stopped")
    look.check()


@pytest.mark.parametrize("size", SIZES)
def test_text_only_a_video_that_cannot_connect_and_no_network_fit_the_screen(pages: Pages, size: str):
    look = Looks(size)
    a = pages.open("Tex", viewport=SIZES[size])
    a.get_by_role("button", name="Text only").click()
    status(a).to_contain_text("Looking for someone")
    look(a, "text-only-searching")

    # A stranger who exists only in the events the test feeds the page: the chat works, the
    # video link never comes (there is no one at the other end of it).
    a.evaluate(
        """(code) => window.__rvc.deliver({event: 'matched', room_code: code, initiator: false,
                                          peer: {name: 'Eve'}, ice_servers: []})""",
        FAKE_ROOM,
    )
    status(a).to_contain_text("Connected to Eve. Video still connecting")
    look(a, "video-connecting")
    expect(a.get_by_role("alert")).to_contain_text("The video connection with Eve failed", timeout=15_000)
    look(a, "video-failed")
    a.evaluate("(code) => window.__rvc.deliver({event: 'peer-reconnecting', room_code: code})", FAKE_ROOM)
    status(a).to_contain_text("Eve lost their connection")
    look(a, "peer-reconnecting")

    pages.allow_errors(r"net::ERR_INTERNET_DISCONNECTED")  # the people-online figure, while offline
    a.context.set_offline(True)
    status(a).to_contain_text("You are offline")
    look(a, "offline")
    a.context.set_offline(False)

    pages.allow_errors(r"WebSocket connection to .* failed")
    c = pages.open("Cy", viewport=SIZES[size], init_script=FLAKY_NETWORK)
    c.evaluate("() => window.__net.cut()")
    start_chat(c, "Cy")
    status(c).to_contain_text("Can't reach the chat service")
    look(c, "cant-reach")
    look.check()
