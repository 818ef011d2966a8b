"""Strangers meeting in real Chromium pages: video, chat, Next, Esc, Stop and text-only mode."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, Pages
from tests.browser.support import (
    chat_texts,
    pair,
    record_sent_messages,
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


def test_the_call_starts_without_join_and_the_candidates_ride_on_the_offer_and_answer(pages: Pages):
    """Each frame is two billed messages: no `join`, no frame per candidate. With no STUN server
    gathering finishes within the page's wait, so the descriptions carry every candidate."""
    a = pages.open("Ana")
    sent_a = record_sent_messages(a)
    start_chat(a, "Ana")
    status(a).to_contain_text("Looking for someone")
    b = pages.open("Bo")
    sent_b = record_sent_messages(b)
    start_chat(b, "Bo")
    for page in (a, b):
        wait_connected(page)
    for page in (a, b):
        wait_remote_video_plays(page)
    for sent, description in ((sent_a, "offer"), (sent_b, "answer")):
        assert "join" not in [m["action"] for m in sent]
        signals = [m for m in sent if m["action"] == "signal"]
        assert [m["type"] for m in signals if m["type"] != "candidates"] == [description]
        [sdp] = [m["data"]["sdp"] for m in signals if m["type"] == description]
        assert "a=candidate:" in sdp
        batches = [m["data"] for m in signals if m["type"] == "candidates"]
        assert len(batches) <= 1, batches  # at most the tail, in one frame, ending gathering
        assert all(batch["end"] for batch in batches)


# A stand-in for RTCPeerConnection whose ICE agent the test drives: candidates are "found" when
# the test says, so the batching of call.js is checked without timing luck.
FAKE_PEER_CONNECTION = r"""
window.__fakePCs = [];
window.RTCPeerConnection = class extends EventTarget {
  constructor() {
    super();
    this.localDescription = null; this.remoteDescription = null; this.added = [];
    this.connectionState = 'new';
    window.__fakePCs.push(this);
  }
  addTransceiver(kind) {
    const sender = { replaceTrack: async () => {}, setStreams() {} };
    return { sender, receiver: { track: { kind } }, direction: 'sendrecv', stopped: false };
  }
  getTransceivers() { return []; }
  createDataChannel() { const c = new EventTarget(); c.readyState = 'connecting'; c.send = () => {}; return c; }
  async createOffer() { return { type: 'offer', sdp: 'v=0\r\n' }; }
  async createAnswer() { return { type: 'answer', sdp: 'v=0\r\n' }; }
  async setLocalDescription(d) { this.localDescription = { ...d, toJSON() { return { type: this.type, sdp: this.sdp }; } }; }
  async setRemoteDescription(d) { this.remoteDescription = d; }
  async addIceCandidate(c) { this.added.push(c === undefined ? null : c.candidate); }
  find(line) {  // the ICE agent found a candidate: it joins the local SDP, then the event fires
    if (line) this.localDescription.sdp += `a=${line}\r\n`;
    const candidate = line ? { candidate: line, toJSON: () => ({ candidate: line, sdpMid: '0' }) } : null;
    this.dispatchEvent(Object.assign(new Event('icecandidate'), { candidate }));
  }
  close() {}
};
"""


def test_candidates_found_after_the_description_go_in_batches_and_the_last_ends_gathering(pages: Pages):
    page = pages.open("Ana", init_script=FAKE_PEER_CONNECTION)
    sent = page.evaluate(
        r"""async () => {
          const { Call, GATHER_WAIT_MS, BATCH_WINDOW_MS, CANDIDATES_MAX } = await import('./static/call.js');
          const sent = [];
          const call = new Call({ roomCode: 'r1', initiator: true, iceServers: [], localStream: null,
                                  send: (m) => sent.push(m), onTrack() {}, onStateChange() {} });
          const pc = window.__fakePCs.at(-1);
          const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
          call.start();
          await sleep(5);
          pc.find('candidate:1 1 udp 1 192.0.2.1 1 typ host');  // in time: rides on the offer
          await sleep(GATHER_WAIT_MS + 20);
          pc.find('candidate:2 1 udp 1 192.0.2.2 2 typ srflx');  // late: a batch, a window later
          pc.find('candidate:3 1 udp 1 192.0.2.3 3 typ srflx');
          await sleep(BATCH_WINDOW_MS + 20);
          for (let i = 0; i < CANDIDATES_MAX + 1; i += 1) pc.find(`candidate:${10 + i} 1 udp 1 192.0.2.9 ${i} typ relay`);
          pc.find(null);  // gathering complete: the rest at once, the last frame with end
          await sleep(20);
          return sent.map(({ type, data }) => (type === 'offer' ? [type, data.sdp] : [type, data.candidates.map((c) => c.candidate.split(' ')[0]), data.end]));
        }"""
    )
    assert sent[0] == ["offer", "v=0\r\na=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n"]
    assert sent[1] == ["candidates", ["candidate:2", "candidate:3"], False]
    relays = [f"candidate:{10 + i}" for i in range(33)]
    assert sent[2:] == [["candidates", relays[:32], False], ["candidates", relays[32:], True]]


def test_a_batch_that_overtakes_the_offer_waits_for_it_and_is_applied_in_order_with_its_end(pages: Pages):
    page = pages.open("Bo", init_script=FAKE_PEER_CONNECTION)
    added = page.evaluate(
        r"""async () => {
          const { Call } = await import('./static/call.js');
          const call = new Call({ roomCode: 'r1', initiator: false, iceServers: [], localStream: null,
                                  send() {}, onTrack() {}, onStateChange() {} });
          const pc = window.__fakePCs.at(-1);
          call.handleSignal('candidates', { candidates: [{ candidate: 'candidate:a' }, { candidate: 'candidate:b' }], end: false });
          call.handleSignal('candidate', { candidate: 'candidate:old-page' });
          await new Promise((r) => setTimeout(r, 20));
          const before = [...pc.added];
          call.handleSignal('offer', { type: 'offer', sdp: 'v=0\r\n' });
          call.handleSignal('candidates', { candidates: [{ candidate: 'candidate:c' }], end: true });
          await new Promise((r) => setTimeout(r, 300));
          return { before, after: pc.added };
        }"""
    )
    assert added["before"] == []  # nothing is applied before the remote description
    assert added["after"] == ["candidate:a", "candidate:b", "candidate:old-page", "candidate:c", None]


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
