"""Strangers meeting in real Chromium pages: video, chat, Next, Esc, Stop and text-only mode."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, Pages
from tests.browser.support import (
    chat_texts,
    pair,
    screenshot,
    send_chat,
    start_chat,
    status,
    wait_connected,
    wait_remote_video_plays,
)

pytestmark = pytest.mark.timeout(150)

# A network where no direct link is possible and there is no TURN relay: with a relay-only
# policy and no relay servers, ICE has no candidate at all, like a strict firewall on both sides.
NO_DIRECT_LINKS = """
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePeerConnection {
  constructor(config = {}) { super({ ...config, iceTransportPolicy: 'relay' }); }
};
"""


def test_two_strangers_are_matched_and_see_each_others_video(pages: Pages):
    a, b = pair(pages)
    for page in (a, b):
        wait_connected(page)
    for page in (a, b):
        wait_remote_video_plays(page)
        expect(page.locator("#remote-tile")).to_have_attribute("data-video", "playing")
    assert a.evaluate("() => window.__rvc.room()") == b.evaluate("() => window.__rvc.room()")
    expect(a.locator("#remote-name")).to_have_text("Bo")
    expect(b.locator("#remote-name")).to_have_text("Ana")
    send_chat(a, "Hi Bo, can you see me?")
    send_chat(b, "Yes! Hello Ana.")
    expect(a.locator("#chat-log .msg-peer")).to_have_count(1)
    screenshot(a, "call-desktop-ana.png")
    screenshot(b, "call-desktop-bo.png")


def test_strangers_chat_both_ways_and_markup_is_shown_as_text(pages: Pages):
    a, b = pair(pages)
    markup = "<img src=x onerror=alert(1)>"
    send_chat(a, "hello from Ana")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["hello from Ana"])
    send_chat(b, markup)
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text([markup])
    expect(b.locator("#chat-log .msg-me .msg-text")).to_have_text([markup])
    expect(a.locator("#chat-log .msg-peer .msg-name")).to_have_text(["Bo"])
    expect(b.locator("#chat-log .msg-peer .msg-name")).to_have_text(["Ana"])
    for page in (a, b):
        assert page.locator("#chat-log img").count() == 0
    assert chat_texts(a, "me") == ["hello from Ana"]
    assert a.locator("#chat-input").input_value() == ""  # Enter sent it and cleared the box


def test_next_tells_the_stranger_and_a_third_visitor_pairs_with_the_one_searching(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    first_room = a.evaluate("() => window.__rvc.room()")

    a.get_by_role("button", name="Next").click()
    status(b).to_contain_text("Stranger disconnected")
    status(a).to_contain_text("Looking for someone")
    assert b.evaluate("() => window.__rvc.pc()") is None
    expect(b.get_by_label("Message to the stranger")).to_be_disabled()
    screenshot(b, "stranger-disconnected-bo.png")

    c = pages.open("Cy")
    start_chat(c, "Cy")
    status(a).to_contain_text("Connected to Cy")
    status(c).to_contain_text("Connected to Ana")
    wait_connected(a)
    wait_connected(c)
    assert a.evaluate("() => window.__rvc.room()") == c.evaluate("() => window.__rvc.room()") != first_room
    send_chat(c, "hi Ana, I am new here")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["hi Ana, I am new here"])

    b.get_by_role("button", name="Next").click()  # one click starts a new search
    status(b).to_contain_text("Looking for someone")
    status(a).to_contain_text("Connected to Cy")  # the new pair is undisturbed


def test_escape_key_triggers_next_and_stop_goes_idle(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    a.keyboard.press("Escape")
    status(b).to_contain_text("Stranger disconnected")
    status(a).to_contain_text("Looking for someone")

    b.keyboard.press("Escape")  # after the stranger left, one key searches again
    status(b).to_contain_text("Looking for someone")
    # Ana and Bo just met, so the server pairs each of them with someone new first.
    c = pages.open("Cy")
    start_chat(c, "Cy")
    status(a).to_contain_text("Connected to Cy")
    wait_connected(a)

    a.get_by_role("button", name="Stop").click()
    status(a).to_contain_text("Stopped")
    assert a.evaluate("() => window.__rvc.state()") == "idle"
    assert a.evaluate("() => window.__rvc.pc()") is None
    expect(a.get_by_role("button", name="Start")).to_be_visible()
    expect(a.get_by_role("button", name="Stop")).to_be_hidden()
    assert a.evaluate("() => document.getElementById('local-video').srcObject") is None  # camera released
    status(c).to_contain_text("Stranger disconnected")

    a.keyboard.press("Escape")  # Esc does nothing while idle
    assert a.evaluate("() => window.__rvc.state()") == "idle"


def test_late_peer_disconnected_from_the_previous_room_does_not_end_the_new_chat(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    old_room = a.evaluate("() => window.__rvc.room()")
    a.keyboard.press("Escape")
    status(b).to_contain_text("Stranger disconnected")
    c = pages.open("Cy")
    start_chat(c, "Cy")
    status(a).to_contain_text("Connected to Cy")
    wait_connected(a)
    wait_connected(c)
    new_room = a.evaluate("() => window.__rvc.room()")
    assert new_room != old_room

    # Events of Ana's room with Bo arrive late, stale signals included.
    a.evaluate(
        """(room) => {
          window.__rvc.deliver({event: 'signal', room_code: room, from: 'Bo', type: 'candidate', data: null});
          window.__rvc.deliver({event: 'chat', room_code: room, sender: 'Bo', message: 'late line', timestamp: 0});
          window.__rvc.deliver({event: 'verified', room_code: room, role: 'initiator'});
          window.__rvc.deliver({event: 'peer-reconnecting', room_code: room, message: 'x'});
          window.__rvc.deliver({event: 'peer-disconnected', room_code: room, message: 'Stranger has disconnected'});
        }""",
        old_room,
    )
    assert a.evaluate("() => window.__rvc.state()") == "room"
    assert a.evaluate("() => window.__rvc.room()") == new_room
    status(a).to_contain_text("Connected to Cy")
    assert a.evaluate("() => window.__rvc.pc().connectionState") == "connected"
    send_chat(a, "still here?")
    expect(c.locator("#chat-log .msg-peer .msg-text")).to_have_text(["still here?"])
    send_chat(c, "yes")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["yes"])  # Bo's late line is not shown

    # The same event for the current room does end it: the rule is about the room, not the event.
    a.evaluate("(room) => window.__rvc.deliver({event: 'peer-disconnected', room_code: room})", new_room)
    status(a).to_contain_text("Stranger disconnected")


def test_room_event_that_overtakes_its_matched_is_held_until_the_room_starts(pages: Pages):
    # The stranger's first signal is relayed by one server invocation while another is still
    # posting our `matched`, so it can arrive first; it must be held, not dropped as stale.
    a = pages.open("Ana")
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    a.evaluate(
        """() => {
          window.__rvc.deliver({event: 'chat', room_code: 'room-early', sender: 'Eve', message: 'hi!', timestamp: 0});
          window.__rvc.deliver({event: 'peer-disconnected', room_code: 'room-early', message: 'gone'});
          window.__rvc.deliver({event: 'matched', room_code: 'room-early', initiator: false,
                                peer: {name: 'Eve'}, ice_servers: []});
        }"""
    )
    status(a).to_contain_text("Stranger disconnected")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["hi!"])
    expect(a.locator("#chat-log .msg-system").last).to_have_text("Eve left the chat.")


def test_video_that_cannot_connect_shows_a_clear_message_offering_next(pages: Pages):
    a, b = pair(pages, init_script=NO_DIRECT_LINKS)
    notice = a.get_by_role("alert")
    expect(notice).to_contain_text("The video connection with Bo failed", timeout=60_000)
    status(a).to_contain_text("Press Next to meet someone else")
    assert a.evaluate("() => window.__rvc.pc().connectionState") != "connected"
    send_chat(b, "I cannot see you, but I can write")  # chat goes through the server, not ICE
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["I cannot see you, but I can write"])
    screenshot(a, "video-failed-ana.png")

    notice.get_by_role("button", name="Find someone else").click()
    status(a).to_contain_text("Looking for someone")
    status(b).to_contain_text("Stranger disconnected")
    expect(notice).to_be_hidden()


def test_visitor_without_camera_chats_in_text_only_mode(pages: Pages):
    a, b = pair(pages, "Tex", "Vi", camera=False)
    expect(a.locator("#local-placeholder-text")).to_have_text("Text-only mode")
    expect(a.locator("#local-placeholder-reason")).to_have_text("Camera and microphone permission was denied.")
    expect(a.locator("#chat-log .msg-system", has_text="Text-only mode")).to_contain_text(
        ["permission was denied. Vi cannot see or hear you."]
    )
    assert a.evaluate("() => window.__rvc.textOnly()") is True
    assert b.evaluate("() => window.__rvc.textOnly()") is False

    send_chat(a, "no camera here, sorry")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["no camera here, sorry"])
    send_chat(b, "no problem")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["no problem"])

    # The call still connects: the text-only side receives the stranger's video, sends none.
    wait_connected(a)
    wait_connected(b)
    wait_remote_video_plays(a)
    expect(b.locator("#remote-placeholder-text")).to_have_text("Tex is not sharing video.", timeout=30_000)
    expect(b.locator("#remote-tile")).to_have_attribute("data-video", "none")
    screenshot(a, "text-only-tex.png")
    screenshot(b, "text-only-vi.png")


def test_connected_call_fits_a_phone_screen(pages: Pages):
    a = pages.open("Pia", viewport=PHONE)
    start_chat(a, "Pia")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Desk")
    start_chat(b, "Desk")
    status(a).to_contain_text("Connected to Desk")
    wait_connected(a)
    wait_remote_video_plays(a)
    send_chat(b, "hello phone")
    send_chat(a, "hello desk")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["hello phone"])
    assert a.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    for name in ("Next", "Stop", "Send", "Report"):
        box = a.get_by_role("button", name=name).bounding_box()
        assert box is not None and box["y"] + box["height"] <= PHONE["height"], f"{name} is off screen"
    screenshot(a, "call-phone-pia.png")
