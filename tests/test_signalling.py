"""join, signal and chat: relayed to the server-chosen peer only, with roles enforced."""

from __future__ import annotations

import pytest


def test_join_verifies_membership_and_reports_the_role(harness):
    a, b, room = harness.pair(join=False)
    harness.send(a, {"action": "join", "room_code": room})
    harness.send(b, {"action": "join", "room_code": room})
    assert harness.new(a) == [{"event": "verified", "room_code": room, "role": "initiator"}]
    assert harness.new(b) == [{"event": "verified", "room_code": room, "role": "responder"}]


def test_join_of_someone_elses_room_is_refused(harness):
    a, b, room = harness.pair(join=False)
    c, d, other_room = harness.pair(join=False)
    harness.send(c, {"action": "join", "room_code": room})
    assert harness.new(c) == [
        {"event": "error", "code": "wrong_room", "message": "That room code is not your current room.", "action": "join"}
    ]
    assert harness.new(a) == [] and harness.new(b) == []


def test_join_without_a_room_is_refused(harness):
    a = harness.connect()
    harness.send(a, {"action": "join", "room_code": "nope"})
    assert harness.new(a)[0]["code"] == "not_in_room"


def test_offer_answer_and_candidates_reach_only_the_peer_with_server_filled_sender(harness):
    a, b, room = harness.pair("alice", "bob")
    c, d, _ = harness.pair("carol", "dave")
    offer = {"type": "offer", "sdp": "v=0 offer"}
    answer = {"type": "answer", "sdp": "v=0 answer"}
    candidate = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host", "sdpMid": "0"}
    harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": offer})
    harness.send(b, {"action": "signal", "room_code": room, "type": "answer", "data": answer})
    harness.send(a, {"action": "signal", "room_code": room, "type": "candidate", "data": candidate})
    harness.send(b, {"action": "signal", "room_code": room, "type": "candidate", "data": None})
    assert harness.new(b) == [
        {"event": "signal", "room_code": room, "from": "alice", "type": "offer", "data": offer},
        {"event": "signal", "room_code": room, "from": "alice", "type": "candidate", "data": candidate},
    ]
    assert harness.new(a) == [
        {"event": "signal", "room_code": room, "from": "bob", "type": "answer", "data": answer},
        {"event": "signal", "room_code": room, "from": "bob", "type": "candidate", "data": None},
    ]
    assert harness.new(c) == [] and harness.new(d) == []


def test_signal_before_join_is_refused(harness):
    a, b, room = harness.pair(join=False)
    harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "x"}})
    assert harness.new(a)[-1]["code"] == "not_joined"
    assert [e["event"] for e in harness.new(b)] == []


def test_signal_before_match_is_refused(harness):
    a = harness.connect()
    harness.send(a, {"action": "signal", "room_code": "x" * 24, "type": "offer", "data": {}})
    assert harness.new(a) == [
        {"event": "error", "code": "not_in_room", "message": "You are not in a chat.", "action": "signal"}
    ]


@pytest.mark.parametrize(("who", "kind"), [("responder", "offer"), ("initiator", "answer")])
def test_offer_only_from_initiator_and_answer_only_from_responder(harness, who, kind):
    a, b, room = harness.pair()
    sender, other = (b, a) if who == "responder" else (a, b)
    harness.send(sender, {"action": "signal", "room_code": room, "type": kind, "data": {"sdp": "x"}})
    assert harness.new(sender)[0]["code"] == "wrong_role"
    assert harness.new(other) == []


def test_signal_to_a_room_you_are_not_in_is_refused_even_when_it_exists(harness):
    a, b, room = harness.pair()
    c, d, other = harness.pair()
    harness.send(c, {"action": "signal", "room_code": room, "type": "candidate", "data": {}})
    assert harness.new(c)[0]["code"] == "wrong_room"
    assert harness.new(a) == [] and harness.new(b) == []


def test_chat_is_relayed_both_ways_with_the_senders_name(harness):
    a, b, room = harness.pair("alice", "bob")
    harness.send(a, {"action": "chat", "room_code": room, "message": "hi bob"})
    harness.send(b, {"action": "chat", "room_code": room, "message": "<b>hi</b> alice"})
    [to_b] = harness.new(b)
    [to_a] = harness.new(a)
    assert to_b["event"] == "chat" and to_b["sender"] == "alice" and to_b["message"] == "hi bob"
    assert to_a["sender"] == "bob" and to_a["message"] == "<b>hi</b> alice"
    assert isinstance(to_a["timestamp"], float)


def test_chat_works_before_join(harness):
    a, b, room = harness.pair(join=False)
    harness.send(b, {"action": "chat", "room_code": room, "message": "hello"})
    assert harness.new(a)[0]["message"] == "hello"


@pytest.mark.parametrize(("message", "code"), [("", "invalid_field"), ("   \n", "invalid_field"), ("x" * 1001, "too_large")])
def test_empty_or_overlong_chat_is_refused(harness, message, code):
    a, b, room = harness.pair()
    harness.send(a, {"action": "chat", "room_code": room, "message": message})
    assert harness.new(a)[0]["code"] == code
    assert harness.new(b) == []


def test_chat_outside_a_room_is_refused(harness):
    a = harness.connect()
    harness.send(a, {"action": "register"})
    harness.send(a, {"action": "chat", "room_code": "r", "message": "anyone?"})
    assert harness.new(a)[-1]["code"] == "not_in_room"


def test_events_never_reveal_connection_ids_or_addresses(harness):
    a, b, room = harness.pair()
    harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "x"}})
    harness.send(a, {"action": "chat", "room_code": room, "message": "hi"})
    harness.send(a, {"action": "next"})
    for cid, other in ((a, b), (b, a)):
        text = str(harness.received(cid))
        assert other not in text and "203.0.113.10" not in text


def test_chat_and_typing_for_a_room_the_sender_has_left_reach_nobody(harness):
    a, b, room = harness.pair()
    harness.send(a, {"action": "next"})
    c = harness.connect()
    harness.send(c, {"action": "register"})
    harness.new(a)
    harness.new(b)
    harness.send(a, {"action": "chat", "room_code": room, "message": "meant for b"})
    harness.send(a, {"action": "typing", "room_code": room})
    assert [e["code"] for e in harness.new(a)] == ["wrong_room", "wrong_room"]
    assert harness.new(b) == [] and [e["event"] for e in harness.new(c)] == ["matched"]


def test_chat_carries_the_senders_sequence_number_to_the_peer(harness):
    a, b, room = harness.pair()
    for seq in (1, 0, 2):
        harness.send(a, {"action": "chat", "room_code": room, "message": f"line {seq}", "seq": seq})
    assert [(e["seq"], e["message"]) for e in harness.new(b)] == [(1, "line 1"), (0, "line 0"), (2, "line 2")]


@pytest.mark.parametrize("seq", [-1, 2**31, "3", 1.5])
def test_a_bad_sequence_number_is_refused(harness, seq):
    a, b, room = harness.pair()
    harness.send(a, {"action": "chat", "room_code": room, "message": "x", "seq": seq})
    assert harness.new(a)[0]["code"] == "invalid_field" and harness.new(b) == []
