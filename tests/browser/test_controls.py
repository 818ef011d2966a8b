"""Issue 16's controls: a safe Esc, drafts that never reach the next stranger, focus that never
lands on Stop, microphone and camera toggles the stranger can see, text only as a way to start,
the choice of camera and microphone, and the first-visit notice."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Pages
from tests.browser.support import (
    pair,
    record_sent_messages,
    start_chat,
    status,
    wait_connected,
    wait_remote_video_plays,
)

pytestmark = pytest.mark.timeout(150)

# Counts the page's requests for a camera or microphone.
COUNT_GET_USER_MEDIA = """
(() => {
  window.__gum = 0;
  const devices = navigator.mediaDevices;
  const native = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (constraints) => { window.__gum += 1; return native(constraints); };
})();
"""

FOCUSED = "() => document.activeElement.id || document.activeElement.tagName"


def track(page: Page, kind: str) -> dict:
    tracks = [t for t in page.evaluate("() => window.__rvc.localTracks()") if t["kind"] == kind]
    assert len(tracks) == 1, tracks
    return tracks[0]


def fake_room(page: Page, code: str, name: str = "Eve") -> None:
    """The server's `matched` for a stranger who exists only in the events the test feeds."""
    page.evaluate(
        """([code, name]) => window.__rvc.deliver({event: 'matched', room_code: code, initiator: false,
                                                  peer: {name}, ice_servers: []})""",
        [code, name],
    )
    status(page).to_contain_text(f"Connected to {name}")


# ---- Esc and drafts ------------------------------------------------------------------------------


def test_esc_with_a_message_typed_asks_first_and_only_a_second_press_within_two_seconds_skips(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    draft = a.get_by_label("Message to the stranger")
    hint = a.locator("#esc-hint")
    draft.fill("my phone number is 555")

    a.keyboard.press("Escape")  # one stray key: nothing is thrown away
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("Press Esc again")
    assert a.evaluate("() => window.__rvc.state()") == "room"
    expect(draft).to_have_value("my phone number is 555")

    expect(hint).to_be_hidden(timeout=3_000)  # the two seconds are over
    a.keyboard.press("Escape")  # so this one asks again
    expect(hint).to_be_visible()
    a.wait_for_timeout(300)
    assert a.evaluate("() => window.__rvc.state()") == "room"
    status(b).to_contain_text("Connected to Ana")

    a.keyboard.press("Escape")  # the second within two seconds skips
    status(a).to_contain_text("Looking for someone")
    status(b).to_contain_text("Stranger disconnected")
    expect(draft).to_have_value("")
    expect(hint).to_be_hidden()


def test_a_chat_that_ends_always_clears_the_draft(pages: Pages):
    a = pages.open("Ana")
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    draft = a.get_by_label("Message to the stranger")

    fake_room(a, "room-1")
    draft.fill("for Eve only")
    a.evaluate("() => window.__rvc.deliver({event: 'peer-disconnected', room_code: 'room-1'})")
    status(a).to_contain_text("Stranger disconnected")
    expect(draft).to_have_value("")  # the stranger left

    a.get_by_role("button", name="Next").click()
    fake_room(a, "room-2")
    draft.fill("half a thought")
    a.get_by_role("button", name="Next").click()
    status(a).to_contain_text("Looking for someone")
    expect(draft).to_have_value("")  # we pressed Next

    fake_room(a, "room-3")
    draft.fill("something to report")
    a.get_by_role("button", name="Report").click()
    a.get_by_role("dialog").get_by_role("button", name="Spam or scam").click()
    status(a).to_contain_text("You reported Eve")
    expect(draft).to_have_value("")  # we reported them

    a.get_by_role("button", name="Next").click()
    fake_room(a, "room-4")
    draft.fill("before a ban")
    a.evaluate("() => window.__rvc.deliver({event: 'banned', message: 'banned'})")
    status(a).to_contain_text("banned for a while")
    expect(draft).to_have_value("")  # we were banned

    start_chat(a)
    status(a).to_contain_text("Looking for someone")
    fake_room(a, "room-5")
    draft.fill("goodbye")
    a.get_by_role("button", name="Stop").click()
    status(a).to_contain_text("Stopped")
    expect(draft).to_have_value("")  # we stopped


# ---- Focus ---------------------------------------------------------------------------------------


def test_focus_never_lands_on_stop_and_a_stranger_arriving_focuses_the_chat_box(pages: Pages):
    a = pages.open("Ana")
    b = pages.open("Bo")
    c = pages.open("Cy")
    a.fill("#name-input", "Ana")
    a.get_by_role("button", name="Start", exact=True).click()
    status(a).to_contain_text("Looking for someone")
    assert a.evaluate(FOCUSED) != "stop"
    a.keyboard.press("Enter")  # a second Enter, or space, does not stop what Start began
    a.keyboard.press("Space")
    a.wait_for_timeout(300)
    assert a.evaluate("() => window.__rvc.state()") == "searching"

    start_chat(b, "Bo")
    status(a).to_contain_text("Connected to Bo")
    expect(a.get_by_label("Message to the stranger")).to_be_focused()  # type at once
    a.keyboard.type("hi Bo")
    a.keyboard.press("Enter")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["hi Bo"])

    a.keyboard.press("Escape")  # Next from the keyboard, from the chat box
    status(a).to_contain_text("Looking for someone")
    assert a.evaluate(FOCUSED) != "stop"
    a.keyboard.press("Enter")
    a.keyboard.press("Space")
    a.wait_for_timeout(300)
    assert a.evaluate("() => window.__rvc.state()") == "searching"

    start_chat(c, "Cy")
    status(a).to_contain_text("Connected to Cy")
    expect(a.get_by_label("Message to the stranger")).to_be_focused()
    a.get_by_role("button", name="Next").click()  # Next with the mouse
    status(a).to_contain_text("Looking for someone")
    assert a.evaluate(FOCUSED) != "stop"

    # Text only from the keyboard: the same.
    a.get_by_role("button", name="Stop").click()
    d = pages.open("Dee")
    d.get_by_role("button", name="Text only").focus()
    d.keyboard.press("Enter")
    status(d).to_contain_text("Looking for someone")
    assert d.evaluate(FOCUSED) != "stop"
    d.keyboard.press("Enter")
    d.wait_for_timeout(300)
    assert d.evaluate("() => window.__rvc.state()") == "searching"


def test_a_double_click_on_text_only_does_not_press_the_stop_that_appears_under_it(pages: Pages):
    a = pages.open("Ana", viewport=PHONE)  # full-width buttons: Stop takes Text only's place
    text_only = a.get_by_role("button", name="Text only").bounding_box()
    a.get_by_role("button", name="Text only").dblclick()
    stop = a.get_by_role("button", name="Stop").bounding_box()
    assert text_only is not None and stop is not None
    assert stop["x"] <= text_only["x"] + text_only["width"] / 2 <= stop["x"] + stop["width"]
    status(a).to_contain_text("Looking for someone")
    a.wait_for_timeout(700)
    assert a.evaluate("() => window.__rvc.state()") == "searching"


# ---- Microphone and camera -----------------------------------------------------------------------


def test_microphone_and_camera_toggles_turn_the_tracks_off_and_the_stranger_sees_it(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    wait_remote_video_plays(b)
    mic = a.get_by_role("button", name="Microphone", exact=True)
    camera = a.get_by_role("button", name="Camera", exact=True)
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(camera).to_have_attribute("aria-pressed", "true")
    assert track(a, "audio")["enabled"] and track(a, "video")["enabled"]

    camera.click()
    expect(camera).to_have_attribute("aria-pressed", "false")
    assert track(a, "video") == {**track(a, "video"), "enabled": False, "readyState": "live"}
    expect(a.locator("#local-tile")).to_have_attribute("data-video", "none")
    # Bo is told, and sees a placeholder rather than the black frames a disabled track sends.
    expect(b.locator("#remote-tile")).to_have_attribute("data-video", "none")
    expect(b.locator("#remote-placeholder-text")).to_have_text("Ana turned their camera off.")

    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "false")
    assert track(a, "audio")["enabled"] is False
    expect(b.locator("#remote-muted")).to_be_visible()
    expect(b.locator("#remote-tile .captions")).to_contain_text("Ana · muted")

    camera.focus()
    a.keyboard.press("Space")  # the keyboard works the toggles too
    expect(camera).to_have_attribute("aria-pressed", "true")
    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "true")
    assert track(a, "audio")["enabled"] and track(a, "video")["enabled"]
    expect(b.locator("#remote-tile")).to_have_attribute("data-video", "playing")
    expect(b.locator("#remote-muted")).to_be_hidden()
    assert a.evaluate("() => window.__rvc.state()") == "room"  # none of it ended the chat


def test_a_camera_turned_off_stays_off_for_the_next_stranger(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    a.get_by_role("button", name="Camera", exact=True).click()
    a.get_by_role("button", name="Next").click()
    c = pages.open("Cy")
    start_chat(c, "Cy")
    status(c).to_contain_text("Connected to Ana")
    wait_connected(c)
    expect(c.locator("#remote-placeholder-text")).to_have_text("Ana turned their camera off.")
    expect(c.locator("#remote-tile")).to_have_attribute("data-video", "none")


def test_text_only_is_a_way_to_start_and_the_camera_can_be_turned_on_later(pages: Pages):
    a = pages.open("Ana", init_script=COUNT_GET_USER_MEDIA)
    sent = record_sent_messages(a)
    a.fill("#name-input", "Ana")
    a.get_by_role("button", name="Text only").click()
    status(a).to_contain_text("Looking for someone")
    status(a).to_contain_text("text-only mode")
    assert a.evaluate("() => window.__gum") == 0  # no camera was asked for
    assert a.evaluate("() => window.__rvc.textOnly()") is True
    expect(a.locator("#local-placeholder-text")).to_have_text("Text-only mode")
    camera = a.get_by_role("button", name="Camera", exact=True)
    expect(camera).to_have_attribute("aria-pressed", "false")

    b = pages.open("Bo")
    start_chat(b, "Bo")
    status(b).to_contain_text("Connected to Ana")
    wait_connected(b)
    # Bo is told Ana is chatting by text, on the page and in the chat.
    expect(b.locator("#chat-log .msg-system", has_text="by text only")).to_have_text(
        ["Ana is chatting by text only: no camera or microphone."]
    )
    expect(b.locator("#remote-placeholder-text")).to_have_text("Ana is not sharing video.")
    expect(b.locator("#remote-placeholder-reason")).to_have_text("Chatting by text only.")
    wait_remote_video_plays(a)  # Ana sees Bo all the same

    camera.click()  # and turns her camera on, without a new offer
    expect(camera).to_have_attribute("aria-pressed", "true")
    assert a.evaluate("() => window.__gum") == 1
    assert a.evaluate("() => window.__rvc.textOnly()") is False
    expect(a.locator("#local-tile")).to_have_attribute("data-video", "playing")
    expect(a.locator("#chat-log .msg-system").last).to_have_text("Your camera is on. Bo can see you now.")
    wait_remote_video_plays(b)
    expect(b.locator("#remote-tile")).to_have_attribute("data-video", "playing")
    expect(b.locator("#chat-log .msg-system").last).to_have_text("Ana turned their camera on.")
    offers = [m for m in sent if m["action"] == "signal" and m["type"] == "offer"]
    assert len(offers) <= 1  # Ana's page was the responder or the initiator once, never again


def test_turning_the_camera_on_while_looking_ends_text_only_mode_in_the_status_too(pages: Pages):
    a = pages.open("Ana")
    a.get_by_role("button", name="Text only").click()
    status(a).to_contain_text("Looking for someone… (text-only mode)")
    a.get_by_role("button", name="Camera", exact=True).click()
    expect(a.locator("#local-tile")).to_have_attribute("data-video", "playing")
    status(a).to_have_text("Looking for someone…")
    assert a.evaluate("() => window.__rvc.textOnly()") is False


def test_the_camera_and_microphone_can_be_chosen_and_the_call_sends_the_new_one(pages: Pages):
    a, b = pair(pages)
    wait_connected(a)
    a.get_by_role("button", name="Choose camera and microphone").click()
    dialog = a.get_by_role("dialog", name="Camera and microphone")
    expect(dialog).to_be_visible()
    microphones = dialog.get_by_label("Microphone").locator("option").all_text_contents()
    cameras = dialog.get_by_label("Camera").locator("option").all_text_contents()
    assert cameras and len(microphones) >= 2, (cameras, microphones)
    assert dialog.get_by_label("Microphone").evaluate("(select) => select.selectedOptions[0].text") == track(a, "audio")["label"]

    other = next(label for label in microphones if label != track(a, "audio")["label"])
    dialog.get_by_label("Microphone").select_option(label=other)
    expect(dialog.locator("#devices-note")).to_have_text(f"{other} is in use.")
    assert track(a, "audio")["label"] == other
    sent = a.evaluate(
        """() => window.__rvc.pc().getSenders().filter((s) => s.track).map((s) => [s.track.kind, s.track.label])"""
    )
    assert ["audio", other] in sent
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    expect(a.get_by_role("button", name="Choose camera and microphone")).to_be_focused()
    assert a.evaluate("() => window.__rvc.state()") == "room"
    status(b).to_contain_text("Connected to Ana")

    # The choice is remembered: after a reload the page asks for that microphone first.
    a.reload()
    start_chat(a, "Ana")
    a.wait_for_function(
        "(label) => window.__rvc.localTracks().some((t) => t.kind === 'audio' && t.label === label)", arg=other
    )


# ---- The first visit -----------------------------------------------------------------------------


def test_the_first_visit_shows_age_rules_and_report_until_the_first_start(pages: Pages):
    a = pages.open("Ana")
    welcome = a.get_by_role("region", name="Before you start")
    expect(welcome).to_be_visible()
    expect(welcome).to_contain_text("18 or older")
    expect(welcome).to_contain_text("no nudity, harassment, hate or spam")
    expect(welcome).to_contain_text("Report")
    expect(a.locator("#agree")).to_have_text("By pressing Start you confirm you are 18 or older and will follow the rules.")
    start_chat(a, "Ana")
    expect(welcome).to_be_hidden()
    a.get_by_role("button", name="Stop").click()
    expect(welcome).to_be_hidden()
    expect(a.locator("#agree")).to_be_visible()  # the reminder by Start stays

    a.reload()
    a.wait_for_function("() => window.__rvc !== undefined")
    time.sleep(0.2)
    expect(a.locator("#welcome")).to_be_hidden()  # this browser has seen it
    fresh = pages.open("Bo")
    expect(fresh.get_by_role("region", name="Before you start")).to_be_visible()
