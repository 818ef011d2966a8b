"""Issue 8 on the page: interests, the typing indicator, reporting, people online, and coming back
after one page's socket is cut."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Pages
from tests.browser.support import (
    FLAKY_NETWORK,
    add_interests,
    chat_texts,
    record_sent_messages,
    screenshot,
    send_chat,
    start_chat,
    status,
    wait_connected,
    wait_remote_video_plays,
)

pytestmark = pytest.mark.timeout(150)


def chips(page: Page) -> list[str]:
    return page.locator("#interests-list .interest-chip > span").all_text_contents()


def pair(
    pages: Pages, first: tuple[str, str] = ("Ana", ""), second: tuple[str, str] = ("Bo", ""), **options
) -> tuple[Page, Page]:
    """Two visitors, each (name, interests), start one after the other and meet."""
    (a_name, a_interests), (b_name, b_interests) = first, second
    a = pages.open(a_name, **options)
    start_chat(a, a_name, a_interests)
    status(a).to_contain_text("Looking for someone")
    b = pages.open(b_name)
    start_chat(b, b_name, b_interests)
    status(a).to_contain_text(f"Connected to {b_name}")
    status(b).to_contain_text(f"Connected to {a_name}")
    return a, b


# ---- Interests -----------------------------------------------------------------------------------


def test_interests_field_makes_normalised_chips_that_keyboard_users_can_remove(pages: Pages):
    page = pages.open("chips")
    page.fill("#interests-input", "  Music ,FILMS, music,  board   games ,")  # pasted: commas make chips
    assert chips(page) == ["music", "films", "board games"]
    assert page.input_value("#interests-input") == ""
    page.fill("#interests-input", "a-very-long-interest-name-indeed")
    page.press("#interests-input", ",")  # a comma also makes a chip
    assert chips(page)[-1] == "a-very-long-interest-nam"  # 24 characters, as the server keeps them
    add_interests(page, "cats, dogs")
    assert len(chips(page)) == 5
    expect(page.locator("#interests-hint")).to_contain_text('Up to 5 interests: "dogs" was not added.')
    screenshot(page, "interests-full-desktop.png")

    page.focus("#interests-input")
    page.keyboard.press("Backspace")  # in the empty field, takes the last chip off
    assert chips(page) == ["music", "films", "board games", "a-very-long-interest-nam"]
    page.get_by_role("button", name="Remove films").click()
    assert chips(page) == ["music", "board games", "a-very-long-interest-nam"]
    expect(page.get_by_role("button", name="Remove board games")).to_be_focused()  # focus stays in the list
    page.keyboard.press("Enter")  # a focused chip's button removes it with the keyboard too
    assert chips(page) == ["music", "a-very-long-interest-nam"]
    assert page.evaluate("() => window.__rvc.state()") == "idle"  # none of these keys started a search


def test_common_interests_are_shown_on_both_pages(pages: Pages):
    a = pages.open("Ana")
    sent = record_sent_messages(a)
    a.fill("#name-input", "Ana")
    add_interests(a, "Music, films")
    screenshot(a, "interests-idle-desktop.png")
    a.press("#interests-input", "Enter")  # Enter in the empty interests field starts
    status(a).to_contain_text("Looking for someone into music or films")

    b = pages.open("Bo")
    start_chat(b, "Bo", "cooking, FILMS, music")
    for page, peer in ((a, "Bo"), (b, "Ana")):
        status(page).to_contain_text(f"Connected to {peer}")
        # The server lists what they share in the waiter's order of interests.
        expect(page.locator("#common-interests")).to_have_text("You both like: music, films")
        expect(page.locator("#chat-log .msg-system", has_text="You both like")).to_have_text(
            ["You both like music and films."]
        )
    register = next(message for message in sent if message["action"] == "register")
    assert register == {"action": "register", "name": "Ana", "interests": ["music", "films"]}
    wait_connected(a)
    wait_remote_video_plays(a)
    screenshot(a, "common-interests-ana.png")

    a.keyboard.press("Escape")  # a new search: what the last stranger shared is gone
    expect(a.locator("#common-interests")).to_be_hidden()
    status(b).to_contain_text("Stranger disconnected")
    expect(b.locator("#common-interests")).to_be_hidden()


@pytest.mark.gateway_options(schedule_interval=1, env={"INTEREST_FALLBACK_SECONDS": "2", "SWEEP_WINDOW_SECONDS": "0"})
def test_strangers_with_nothing_in_common_meet_after_the_fallback(pages: Pages):
    a = pages.open("Ana")
    start_chat(a, "Ana", "chess")
    status(a).to_contain_text("Looking for someone into chess")
    b = pages.open("Bo")
    start_chat(b, "Bo", "surfing")
    # Nobody shares a tag; once the wait passes the fallback, the sweep pairs them anyway.
    status(a).to_contain_text("Connected to Bo")
    status(b).to_contain_text("Connected to Ana")
    for page, peer in ((a, "Bo"), (b, "Ana")):
        expect(page.locator("#common-interests")).to_be_hidden()
        expect(page.locator("#chat-log .msg-system").nth(1)).to_have_text(
            f"No one who shares your interests was free, so you met {peer} at random."
        )
    screenshot(b, "fallback-bo.png")


# ---- Typing --------------------------------------------------------------------------------------


def test_typing_indicator_shows_while_the_stranger_types_and_goes_with_their_message(pages: Pages):
    a = pages.open("Ana")
    sent = record_sent_messages(a)
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Bo")
    start_chat(b, "Bo")
    status(a).to_contain_text("Connected to Bo")
    status(b).to_contain_text("Connected to Ana")
    typing = b.locator("#typing")
    expect(typing).to_be_hidden()

    # Five seconds of typing: the indicator, which lasts 3 s, is still up at the end only because
    # the page keeps telling the stranger, at most once every 2 s (the server allows 2 per second).
    started = time.monotonic()
    a.locator("#chat-input").press_sequentially("Hello there, how are you", delay=200)
    typed_for = time.monotonic() - started
    expect(typing).to_be_visible(timeout=1_000)
    expect(typing).to_have_text("Ana is typing…")
    screenshot(b, "typing-bo.png")
    notices = sum(1 for message in sent if message["action"] == "typing")
    assert 3 <= notices <= 1 + typed_for / 2, (notices, typed_for)

    a.press("#chat-input", "Enter")
    # The message and the indicator's end come together, not up to 3 s apart.
    hidden_when_message_came = b.wait_for_function(
        """() => document.querySelectorAll('#chat-log .msg-peer').length === 1
                 ? !window.__rvc.typingShown() : undefined""",
        polling="raf",
    )
    assert hidden_when_message_came.json_value() is True
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["Hello there, how are you"])
    expect(typing).to_be_hidden()

    # A `typing` right behind a message was sent before it (the server relays concurrently).
    room = b.evaluate("() => window.__rvc.room()")
    b.evaluate(
        """(room) => {
          window.__rvc.deliver({event: 'chat', room_code: room, sender: 'Ana', message: 'ok', timestamp: 0});
          window.__rvc.deliver({event: 'typing', room_code: room});
        }""",
        room,
    )
    assert b.evaluate("() => window.__rvc.typingShown()") is False

    # Typing and then stopping: it goes away by itself after a few seconds.
    b.wait_for_timeout(500)
    a.locator("#chat-input").press_sequentially("wa", delay=50)
    expect(typing).to_be_visible()
    expect(typing).to_be_hidden(timeout=6_000)

    # And at once when the chat ends.
    a.locator("#chat-input").press_sequentially("it", delay=50)
    expect(typing).to_be_visible()
    a.get_by_role("button", name="Stop").click()
    status(b).to_contain_text("Stranger disconnected")
    expect(typing).to_be_hidden(timeout=1_000)


# ---- Reporting -----------------------------------------------------------------------------------


def test_report_ends_the_chat_for_the_reporter_and_disconnects_the_stranger(pages: Pages):
    a = pages.open("Ana")
    sent = record_sent_messages(a)
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Bo")
    start_chat(b, "Bo")
    status(a).to_contain_text("Connected to Bo")
    wait_connected(a)

    # The dialog by keyboard: it opens on Cancel, so a stray Enter reports no one; Esc closes it
    # without also pressing Next.
    report_button = a.get_by_role("button", name="Report")
    report_button.focus()
    a.keyboard.press("Enter")
    dialog = a.get_by_role("dialog", name="Report Bo")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    screenshot(a, "report-dialog-ana.png")
    a.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(report_button).to_be_focused()
    assert a.evaluate("() => window.__rvc.state()") == "room"
    status(b).to_contain_text("Connected to Ana")

    report_button.click()
    dialog.get_by_role("button", name="Harassment or bullying").click()
    notice = a.get_by_role("alert")
    expect(notice).to_contain_text("You reported Bo. The chat has ended, and you will not meet them again.")
    assert {"action": "report", "reason": "harassment"} in sent  # the server answered it, so it went out
    status(a).to_contain_text("You reported Bo")
    expect(a.locator("#chat-log .msg-system").last).to_have_text(
        "Thank you. Bo was reported, and you will not be matched with them again."
    )
    assert a.evaluate("() => window.__rvc.pc()") is None
    expect(report_button).to_be_hidden()
    expect(a.get_by_label("Message to the stranger")).to_be_disabled()
    expect(a.locator("#remote-tile")).to_have_attribute("data-video", "none")
    a.wait_for_timeout(400)  # the stranger's last picture fades out
    screenshot(a, "reported-ana.png")

    status(b).to_contain_text("Stranger disconnected")  # Bo is not told why
    expect(b.locator("#chat-log .msg-system").last).to_have_text("Ana left the chat.")
    expect(b.get_by_role("button", name="Report")).to_be_hidden()
    screenshot(b, "reported-peer-bo.png")

    notice.get_by_role("button", name="Find someone else").click()
    status(a).to_contain_text("Looking for someone")
    expect(notice).to_be_hidden()


BANNED = "Your address was reported by several people and is banned for a while. Try again later."


@pytest.mark.parametrize(
    "ban",
    [
        {"event": "banned", "message": "Your address was reported by several people and is banned for a while."},
        {"event": "error", "code": "banned", "message": "This address is banned for a while.", "action": "chat"},
    ],
    ids=["banned-event", "banned-error"],
)
def test_a_ban_shows_the_ban_notice_and_the_page_does_not_reconnect(pages: Pages, ban: dict[str, str]):
    a, b = pair(pages)
    opened: list[object] = []
    a.on("websocket", lambda socket: opened.append(socket))
    a.evaluate("(event) => window.__rvc.deliver(event)", ban)
    status(a).to_have_text(BANNED)
    expect(a.locator("#chat-log .msg-system").last).to_have_text(BANNED)
    assert a.evaluate("() => window.__rvc.state()") == "idle"
    assert a.evaluate("() => window.__rvc.pc()") is None
    expect(a.get_by_role("button", name="Start")).to_be_visible()
    expect(a.get_by_label("Message to the stranger")).to_be_disabled()
    assert a.evaluate("() => document.getElementById('local-video').srcObject") is None  # camera released
    a.wait_for_timeout(3_000)  # a reconnecting page would have tried within a second
    assert opened == []
    status(a).to_have_text(BANNED)

    # Start tries again; this ban was only the test's word, so the socket opens and Ana searches.
    start_chat(a)
    status(a).to_contain_text("Looking for someone")
    assert len(opened) == 1


@pytest.mark.gateway_options(env={"REPORT_THRESHOLD": "1"})
def test_a_stranger_banned_by_a_report_is_told_and_their_page_stops_connecting(pages: Pages):
    pages.allow_errors(r"WebSocket connection to .* failed")  # the banned address gets 403
    a, b = pair(pages)
    opened: list[object] = []
    b.on("websocket", lambda socket: opened.append(socket))
    a.get_by_role("button", name="Report").click()
    a.get_by_role("dialog", name="Report Bo").get_by_role("button", name="Spam or scam").click()
    # Both pages come from 127.0.0.1: a server that ends every socket of a banned address bans Ana too.
    status(a).to_contain_text(re.compile("You reported Bo|banned for a while"))

    status(b).to_have_text(BANNED)  # one report is enough here; the server closes Bo's socket
    expect(b.locator("#chat-log .msg-system").last).to_have_text(BANNED)
    assert b.evaluate("() => window.__rvc.state()") == "idle"
    b.wait_for_timeout(3_000)
    assert opened == []

    # Start tries once; the new socket is refused, and the page says why instead of retrying.
    start_chat(b)
    status(b).to_have_text("Could not connect: your address may still be banned. Try again later.")
    b.wait_for_timeout(3_000)
    assert len(opened) == 1
    assert b.evaluate("() => window.__rvc.state()") == "idle"


def test_report_dialog_fits_a_phone_and_closes_when_the_stranger_leaves(pages: Pages):
    a, b = pair(pages, ("Pia", ""), ("Desk", ""), viewport=PHONE)
    a.get_by_role("button", name="Report").click()
    dialog = a.get_by_role("dialog", name="Report Desk")
    expect(dialog).to_be_visible()
    assert a.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    for reason in ("Spam or scam", "Something else", "Cancel"):
        box = dialog.get_by_role("button", name=reason).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["y"] + box["height"] <= PHONE["height"], f"{reason} is off screen"
    screenshot(a, "report-dialog-phone.png")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    status(a).to_contain_text("Connected to Desk")

    a.get_by_role("button", name="Report").click()
    expect(dialog).to_be_visible()
    b.keyboard.press("Escape")  # Desk moves on while Pia is choosing: no one is left to report
    expect(dialog).to_be_hidden()
    status(a).to_contain_text("Stranger disconnected")
    expect(a.get_by_role("button", name="Next")).to_be_focused()  # focus lands on a visible control


# ---- People online -------------------------------------------------------------------------------


def test_header_shows_how_many_people_are_online(pages: Pages):
    a = pages.open("Ana")
    online = a.locator("#online")
    # No one is online yet (the page itself is not connected before Start): rather than greet a
    # first visitor with "0 people online", the line is not shown (issue 16).
    a.wait_for_timeout(1_000)  # the first figure has come
    expect(online).to_be_hidden()
    expect(a.locator("body")).not_to_contain_text("0 people online")
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    # The server's figure may be 5 s old, but the page never counts fewer than it knows: itself.
    expect(online).to_have_text("1 person online", timeout=3_000)
    b = pages.open("Bo")
    start_chat(b, "Bo")
    status(b).to_contain_text("Connected to Ana")
    expect(online).to_have_text("2 people online", timeout=3_000)  # and its stranger
    expect(b.locator("#online")).to_have_text("2 people online", timeout=3_000)
    screenshot(a, "online-count-ana.png")
    # A visitor who has not started knows nobody: what it shows is the server's count, refreshed
    # every 15 s.
    c = pages.open("Cy")
    expect(c.locator("#online")).to_have_text("2 people online", timeout=40_000)


def test_online_count_is_hidden_when_stats_fail(pages: Pages):
    page = pages.open(
        "visitor",
        init_script="""
        const realFetch = window.fetch;
        window.fetch = (url, options) => String(url) === 'stats'
          ? Promise.resolve(new Response('{"error": "unavailable"}', {status: 503}))
          : realFetch(url, options);
        """,
    )
    expect(page.locator("#online")).to_be_hidden()
    expect(page.get_by_role("button", name="Start")).to_be_visible()


# ---- Reconnect -----------------------------------------------------------------------------------


# A generous grace period: this test is about coming back, not about how long the seat is held.
@pytest.mark.gateway_options(env={"RESUME_GRACE_SECONDS": "60"})
def test_one_page_loses_its_socket_the_stranger_waits_and_both_are_back_in_the_same_room(pages: Pages):
    pages.allow_errors(r"WebSocket connection to .* failed")  # while Ana's network is cut
    a, b = pair(pages, ("Ana", "films"), ("Bo", "films, music"), init_script=FLAKY_NETWORK)
    wait_connected(a)
    wait_connected(b)
    room = a.evaluate("() => window.__rvc.room()")
    send_chat(b, "can you hear me?")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["can you hear me?"])

    a.evaluate("() => window.__net.cut()")
    status(a).to_contain_text("Connection lost")
    status(b).to_contain_text("Ana lost their connection. Waiting for them to come back")
    expect(b.locator("#remote-placeholder-text")).to_have_text("Ana is reconnecting…")
    expect(b.get_by_label("Message to the stranger")).to_be_enabled()  # Bo stays in the room
    screenshot(b, "peer-reconnecting-bo.png")
    screenshot(a, "connection-cut-ana.png")

    a.evaluate("() => window.__net.mend()")  # back online: the page retries at once and resumes
    status(a).to_contain_text("Connected to Bo", timeout=30_000)
    status(b).to_contain_text("Connected to Ana", timeout=30_000)
    wait_connected(a)
    wait_connected(b)
    wait_remote_video_plays(b)
    assert a.evaluate("() => window.__rvc.room()") == room == b.evaluate("() => window.__rvc.room()")
    expect(a.locator("#chat-log .msg-system", has_text="Reconnected")).to_have_text(
        ["Reconnected. You are back with Bo."]
    )
    expect(b.locator("#chat-log .msg-system", has_text="is back")).to_have_text(["Ana is back."])
    for page in (a, b):
        expect(page.locator("#common-interests")).to_have_text("You both like: films")
    send_chat(a, "yes, I am back")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["yes, I am back"])
    assert chat_texts(a, "peer") == ["can you hear me?"]
    screenshot(b, "peer-resumed-bo.png")
