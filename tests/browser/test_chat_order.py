"""Chat lines in the order they were sent: the page numbers its lines per room (`seq`), and the
receiving page puts the stranger's lines back in that order, however the server relays them.
Also the server's answers to a chat or typing for a room that has just ended."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Pages
from tests.browser.support import (
    FLAKY_NETWORK,
    chat_texts,
    record_received_events,
    record_sent_messages,
    send_chat,
    start_chat,
    status,
)

pytestmark = pytest.mark.timeout(150)

# Feeds Eve's lines numbered `seqs` (null: a line without one) to the page as the server would
# relay them, synchronously, and returns how many of Eve's lines the log shows after each one.
DELIVER_LINES = """([code, seqs]) => seqs.map((seq) => {
  const event = {event: 'chat', room_code: code, sender: 'Eve', message: `line ${seq ?? '-'}`, timestamp: 0};
  if (seq !== null) event.seq = seq;
  window.__rvc.deliver(event);
  return document.querySelectorAll('#chat-log .msg-peer').length;
})"""

# Feeds the lines, then waits until the log shows `count` of Eve's lines; returns how long that took.
DELIVER_AND_TIME = """async ([code, seqs, count]) => {
  const started = performance.now();
  for (const seq of seqs) {
    window.__rvc.deliver({event: 'chat', room_code: code, sender: 'Eve', message: `line ${seq}`, seq, timestamp: 0});
  }
  while (document.querySelectorAll('#chat-log .msg-peer').length < count) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}"""

ROOM = "room-with-eve"


def lines(*seqs: int | None) -> list[str]:
    return [f"line {'-' if seq is None else seq}" for seq in seqs]


def deliver(page: Page, seqs: list[int | None], room: str = ROOM) -> list[int]:
    return page.evaluate(DELIVER_LINES, [room, seqs])


def in_a_room_with_eve(pages: Pages) -> Page:
    """Ana's page in a room with Eve, who exists only in the events the test feeds it."""
    page = pages.open("Ana")
    start_chat(page, "Ana")
    status(page).to_contain_text("Looking for someone")
    page.evaluate(
        """(code) => window.__rvc.deliver({event: 'matched', room_code: code, initiator: false,
                                          peer: {name: 'Eve'}, ice_servers: []})""",
        ROOM,
    )
    status(page).to_contain_text("Connected to Eve")
    return page


def recorded_pair(pages: Pages) -> tuple[Page, Page, list[dict[str, Any]], list[dict[str, Any]]]:
    """Ana and Bo in one room; what Ana sent and what Bo received, recorded from the start."""
    a = pages.open("Ana")
    sent = record_sent_messages(a)
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Bo")
    received = record_received_events(b)
    start_chat(b, "Bo")
    status(a).to_contain_text("Connected to Bo")
    status(b).to_contain_text("Connected to Ana")
    return a, b, sent, received


def chats(frames: list[dict[str, Any]], key: str = "action") -> list[dict[str, Any]]:
    return [frame for frame in frames if frame.get(key) == "chat"]


def test_lines_sent_back_to_back_carry_increasing_seq_and_show_in_order_on_both_pages(pages: Pages):
    a, b, sent, received = recorded_pair(pages)
    room = a.evaluate("() => window.__rvc.room()")
    typed = [f"Ana {n}" for n in range(5)]
    for text in typed:  # as fast as Enter can be pressed: the server may relay them shuffled
        send_chat(a, text)
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(typed)
    assert [(m["message"], m["seq"]) for m in chats(sent)] == [(text, n) for n, text in enumerate(typed)]
    relayed = chats(received, "event")
    assert sorted((e["seq"], e["message"]) for e in relayed) == list(enumerate(typed))  # unchanged by the server
    assert all(e["room_code"] == room for e in relayed)

    replies = ["Bo 0", "Bo 1", "Bo 2"]
    for text in replies:  # Bo counts his own lines from 0
        send_chat(b, text)
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(replies)
    assert chat_texts(a, "me") == typed

    # Every chat and typing frame named the room it was typed in.
    assert {m["room_code"] for m in sent if m["action"] in ("chat", "typing")} == {room}

    # A new room counts from 0 again.
    a.keyboard.press("Escape")
    status(b).to_contain_text("Stranger disconnected")
    c = pages.open("Cy")
    start_chat(c, "Cy")
    status(a).to_contain_text("Connected to Cy")
    new_room = a.evaluate("() => window.__rvc.room()")
    send_chat(a, "hello Cy")
    expect(c.locator("#chat-log .msg-peer .msg-text")).to_have_text(["hello Cy"])
    last = chats(sent)[-1]
    assert (last["message"], last["seq"], last["room_code"]) == ("hello Cy", 0, new_room)


def test_shuffled_lines_of_the_current_room_are_shown_in_the_order_they_were_sent(pages: Pages):
    page = in_a_room_with_eve(pages)
    # 1 and 2 wait for 0; 4 waits for 3.
    assert deliver(page, [1, 2, 0, 4, 3]) == [0, 0, 3, 3, 5]
    assert chat_texts(page, "peer") == lines(0, 1, 2, 3, 4)
    assert page.evaluate("() => window.__rvc.state()") == "room"


def test_lines_held_for_a_gap_that_never_fills_are_shown_in_order_after_about_a_second(pages: Pages):
    page = in_a_room_with_eve(pages)
    assert deliver(page, [0]) == [1]
    # Line 1 never comes (the server refused it, say): 2 and 3 wait for it, then go on without it.
    waited_ms = page.evaluate(DELIVER_AND_TIME, [ROOM, [3, 2], 3])
    assert 900 <= waited_ms <= 2_000, waited_ms
    assert chat_texts(page, "peer") == lines(0, 2, 3)

    # Nothing is dropped: line 1 arriving after all is shown at once, as is a line without a
    # seq (a page from before seq) even while another line waits for a gap.
    assert deliver(page, [1]) == [4]
    assert deliver(page, [5, None]) == [4, 5]
    expect(page.locator("#chat-log .msg-peer .msg-text")).to_have_text(lines(0, 2, 3, 1, None, 5), timeout=3_000)


def test_a_line_waiting_for_a_gap_is_shown_before_the_stranger_leaves(pages: Pages):
    page = in_a_room_with_eve(pages)
    assert deliver(page, [1]) == [0]
    page.evaluate(
        "(code) => window.__rvc.deliver({event: 'peer-disconnected', room_code: code, message: 'gone'})", ROOM
    )
    status(page).to_contain_text("Stranger disconnected")
    log = page.evaluate(
        "() => [...document.querySelectorAll('#chat-log .msg')].map((item) => [item.className, item.lastChild.textContent])"
    )
    assert log[-2:] == [["msg msg-peer", "line 1"], ["msg msg-system", "Eve left the chat."]]


def test_lines_that_overtake_matched_are_held_and_then_shown_in_the_order_they_were_sent(pages: Pages):
    page = pages.open("Ana")
    start_chat(page, "Ana")
    status(page).to_contain_text("Looking for someone")
    shown = page.evaluate(
        """() => {
          for (const seq of [2, 0]) {
            window.__rvc.deliver({event: 'chat', room_code: 'room-early', sender: 'Eve', message: `line ${seq}`,
                                  seq, timestamp: 0});
          }
          window.__rvc.deliver({event: 'matched', room_code: 'room-early', initiator: false,
                                peer: {name: 'Eve'}, ice_servers: []});
          return document.querySelectorAll('#chat-log .msg-peer').length;
        }"""
    )
    assert shown == 1  # line 0; line 2 waits for line 1
    assert deliver(page, [1], room="room-early") == [3]
    assert chat_texts(page, "peer") == lines(0, 1, 2)


# Room code of Ana's page with Bo, and how many of Bo's lines it shows, fed one more line.
DELIVER_FROM_BO = """(seq) => {
  window.__rvc.deliver({event: 'chat', room_code: window.__rvc.room(), sender: 'Bo', message: `Bo ${seq}`,
                        seq, timestamp: 0});
  return document.querySelectorAll('#chat-log .msg-peer').length;
}"""


# A generous grace period: this test is about the count across a resume, not the seat's hold.
@pytest.mark.gateway_options(env={"RESUME_GRACE_SECONDS": "60"})
def test_a_resumed_room_goes_on_counting_on_both_pages(pages: Pages):
    pages.allow_errors(r"WebSocket connection to .* failed")  # while Ana's network is cut
    a = pages.open("Ana", init_script=FLAKY_NETWORK)
    sent = record_sent_messages(a)
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Bo")
    received = record_received_events(b)
    start_chat(b, "Bo")
    status(a).to_contain_text("Connected to Bo")
    room = a.evaluate("() => window.__rvc.room()")
    send_chat(a, "before")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["before"])
    send_chat(b, "Bo 0")
    expect(a.locator("#chat-log .msg-peer .msg-text")).to_have_text(["Bo 0"])

    a.evaluate("() => window.__net.cut()")
    status(b).to_contain_text("Ana lost their connection")
    a.evaluate("() => window.__net.mend()")
    status(a).to_contain_text("Connected to Bo", timeout=30_000)
    status(b).to_contain_text("Connected to Ana", timeout=30_000)
    assert a.evaluate("() => window.__rvc.room()") == room

    # Ana's next line is number 1 of the room, as Bo's page expects; not 0 again.
    send_chat(a, "after")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["before", "after"])
    assert [(m["message"], m["seq"]) for m in chats(sent)] == [("before", 0), ("after", 1)]
    assert [(e["message"], e["seq"]) for e in chats(received, "event")] == [("before", 0), ("after", 1)]
    # And Ana's page still knows Bo's line 0: his line 1 is shown at once, not held for a gap.
    assert a.evaluate(DELIVER_FROM_BO, 1) == 2


def test_chat_refused_for_a_room_just_left_is_noted_once_and_typing_refused_is_silent(pages: Pages):
    a, b, _, _ = recorded_pair(pages)
    send_chat(a, "see you")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["see you"])
    a.keyboard.press("Escape")
    status(a).to_contain_text("Looking for someone")
    # The server ran Next before Ana's last lines and typing: each is refused, not relayed.
    a.evaluate(
        """() => {
          for (const [code, action] of [['wrong_room', 'chat'], ['not_in_room', 'chat'], ['wrong_room', 'typing'],
                                        ['not_in_room', 'typing']]) {
            window.__rvc.deliver({event: 'error', code, message: 'x', action});
          }
        }"""
    )
    note = "Your last message was not delivered: the chat with Bo had already ended."
    expect(a.locator("#chat-log .msg-system").last).to_have_text(note)
    expect(a.locator("#chat-log .msg-system", has_text="not delivered")).to_have_count(1)
    status(a).to_contain_text("Looking for someone")  # nothing else changes


def test_chat_refused_before_the_page_hears_the_room_ended_is_noted_after_the_stranger_leaves(pages: Pages):
    a, b, _, _ = recorded_pair(pages)
    send_chat(a, "are you still there?")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["are you still there?"])
    # Bo's Next ran first on the server; its answer to Ana's line can overtake the news.
    a.evaluate("() => window.__rvc.deliver({event: 'error', code: 'not_in_room', message: 'x', action: 'chat'})")
    expect(a.locator("#chat-log .msg-system", has_text="not delivered")).to_have_count(0)
    status(a).to_contain_text("Connected to Bo")
    b.keyboard.press("Escape")
    status(a).to_contain_text("Stranger disconnected")
    expect(a.locator("#chat-log .msg-system").last).to_have_text(
        "Your last message was not delivered: the chat with Bo had already ended."
    )
    expect(a.locator("#chat-log .msg-system").nth(-2)).to_have_text("Bo left the chat.")


@pytest.mark.gateway_options(env={"RATE_LIMITS": '{"chat": [3, 0.5]}'})
def test_a_line_the_server_refused_leaves_a_gap_the_stranger_skips_after_about_a_second(pages: Pages):
    a, b, sent, received = recorded_pair(pages)
    for text in ("one", "two", "three", "refused"):  # three at once are allowed, the fourth is not
        send_chat(a, text)
    expect(a.locator("#chat-log .msg-system").last).to_have_text("Not sent: you are sending too fast. Wait a moment.")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["one", "two", "three"])
    a.wait_for_timeout(2_500)  # the bucket has a token again
    send_chat(a, "five")
    expect(b.locator("#chat-log .msg-peer .msg-text")).to_have_text(["one", "two", "three", "five"])
    assert [m["seq"] for m in chats(sent)] == [0, 1, 2, 3, 4]
    assert sorted(e["seq"] for e in chats(received, "event")) == [0, 1, 2, 4]  # 3 never came


def test_a_room_announced_again_leaves_the_chat_on_the_page_as_it_was(pages: Pages):
    page = in_a_room_with_eve(pages)
    deliver(page, [0])
    page.evaluate(
        """(code) => window.__rvc.deliver({event: 'matched', room_code: code, initiator: false,
                                          peer: {name: 'Eve'}, ice_servers: []})""",
        ROOM,
    )
    status(page).to_contain_text("Connected to Eve")
    assert chat_texts(page, "peer") == lines(0), "the chat was restarted by a repeated announcement"
