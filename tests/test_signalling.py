"""join, signal and chat: relayed to the server-chosen peer only, with roles enforced.

The page signals as soon as `matched` arrives: a seat's first relay joins it. `join` stays for
pages loaded before that, which wait for its `verified`."""

from __future__ import annotations

import pytest

from chalicelib import protocol, sweep
from tests.support import invariants

HOST = "candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host"


def joined(redis_client, keys) -> dict[str, int]:
    return {cid: seat["joined"] for cid, seat in invariants.snapshot(redis_client, keys)["seats"].items()}


def batch(room: str, data) -> dict:
    return {"action": "signal", "room_code": room, "type": "candidates", "data": data}


def test_join_from_a_page_loaded_before_the_fold_still_verifies_membership_and_reports_the_role(harness):
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


def test_an_offer_sent_without_join_is_relayed_and_joins_the_initiators_seat(policy_harness, redis_client, keys):
    harness = policy_harness
    a, b, room = harness.pair(join=False)
    harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "x"}})
    assert harness.new(a) == []
    assert harness.new(b) == [{"event": "signal", "room_code": room, "from": "alice", "type": "offer",
                               "data": {"sdp": "x"}}]
    assert joined(redis_client, keys) == {a: 1, b: 0}
    assert redis_client.zscore(keys.fresh, room) is not None  # b has not shown it heard of the room


def test_once_both_members_relayed_the_sweep_no_longer_checks_the_rooms_announcement(
    policy_harness, redis_client, keys, clock
):
    harness = policy_harness
    a, b, room = harness.pair(join=False)
    harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "x"}})
    harness.send(b, {"action": "signal", "room_code": room, "type": "answer", "data": {"sdp": "y"}})
    assert joined(redis_client, keys) == {a: 1, b: 1}
    assert redis_client.zscore(keys.fresh, room) is None
    clock.advance(60)
    sweep.run(harness.service, clock=clock, window_seconds=0)
    assert invariants.check(redis_client, keys)["seats"][a]["room"] == room
    assert harness.new(a)[-1]["type"] == "answer" and [e["type"] for e in harness.new(b)] == ["offer"]


def test_a_room_only_its_initiator_relayed_in_ends_at_the_join_deadline_and_its_responder_looks_again(
    policy_harness, redis_client, keys, clock
):
    """The responder never showed it heard of the room (its `matched` may have been lost): the
    initiator, who did, is told the room ended; the responder goes back to the queue."""
    harness = policy_harness
    a, b, room = harness.pair(join=False)
    harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "x"}})
    harness.new(b)
    clock.advance(harness.service.settings.announce_seconds + 1)
    sweep.run(harness.service, clock=clock, window_seconds=0)
    assert [e["event"] for e in harness.new(a)] == ["peer-disconnected"]
    assert harness.new(b) == []
    state = invariants.check(redis_client, keys)
    assert state["seats"] == {} and state["queue"] == [b]


@pytest.mark.parametrize("first", [
    {"action": "chat", "message": "hi"},
    {"action": "typing"},
    {"action": "signal", "type": "candidates", "data": {"candidates": [{"candidate": HOST, "sdpMid": "0"}]}},
    {"action": "signal", "type": "candidate", "data": {"candidate": HOST}},
])
def test_any_relay_that_names_the_room_joins_the_seat(harness, redis_client, keys, first):
    a, b, room = harness.pair(join=False)
    harness.send(b, {**first, "room_code": room})
    assert len(harness.new(a)) == 1 and harness.new(b) == []
    assert joined(redis_client, keys) == {a: 0, b: 1}


def test_a_refused_relay_joins_nothing(policy_harness, redis_client, keys):
    harness = policy_harness
    a, b, room = harness.pair(join=False)
    c, d, other = harness.pair(join=False)
    harness.send(b, {"action": "signal", "room_code": room, "type": "offer", "data": {}})
    harness.send(b, {"action": "chat", "room_code": other, "message": "wrong room"})
    assert [e["code"] for e in harness.new(b)] == ["wrong_role", "wrong_room"]
    assert joined(redis_client, keys) == {a: 0, b: 0, c: 0, d: 0}
    assert redis_client.zscore(keys.fresh, room) is not None


def test_a_register_after_a_relay_is_in_room_not_announced_again(harness):
    a, b, room = harness.pair(join=False)
    harness.send(b, {"action": "register"})  # never relayed: it may not have heard of its room
    assert [e["event"] for e in harness.new(b)] == ["matched"]
    harness.new(a)
    harness.send(b, {"action": "chat", "room_code": room, "message": "hi"})
    harness.send(b, {"action": "register"})
    assert [e.get("code") for e in harness.new(b)] == ["in_room"]
    assert [e["event"] for e in harness.new(a)] == ["chat"]


def test_a_batch_of_candidates_reaches_the_peer_as_sent(harness):
    a, b, room = harness.pair("alice", "bob", join=False)
    first = {"candidates": [{"candidate": HOST, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "u1"},
                            {"candidate": HOST.replace("192.0.2.1", "192.0.2.2"), "sdpMid": "0"}]}
    last = {"candidates": [], "end": True}
    harness.send(a, batch(room, first))
    harness.send(a, batch(room, last))
    assert harness.new(b) == [
        {"event": "signal", "room_code": room, "from": "alice", "type": "candidates", "data": first},
        {"event": "signal", "room_code": room, "from": "alice", "type": "candidates", "data": last},
    ]
    assert harness.new(a) == []


def test_a_batch_as_large_as_allowed_is_relayed(harness):
    a, b, room = harness.pair(join=False)
    longest = "candidate:" + "9" * (protocol.CANDIDATE_CHARS_MAX - len("candidate:"))
    data = {"candidates": [{"candidate": longest, "sdpMid": "0"}] * protocol.CANDIDATES_MAX, "end": True}
    harness.send(a, batch(room, data))
    assert [e["data"] for e in harness.new(b)] == [data]


@pytest.mark.parametrize(("data", "code"), [
    ({"candidates": [{"candidate": HOST}] * (protocol.CANDIDATES_MAX + 1)}, "invalid_field"),  # too many
    ({"candidates": [{"candidate": "x" * (protocol.CANDIDATE_CHARS_MAX + 1)}]}, "invalid_field"),  # too long
    ({"candidates": [{"candidate": HOST, "sdpMLineIndex": -1}]}, "invalid_field"),
    ({"candidates": [{"candidate": HOST, "sdpMid": "0", "ip": "192.0.2.1"}]}, "invalid_field"),  # unknown field
    ({"candidates": [{"sdpMid": "0"}]}, "invalid_field"),  # no candidate line
    ({"candidates": [{"candidate": HOST + "\r\na=x"}]}, "invalid_field"),  # a smuggled SDP line
    ({"candidates": [HOST]}, "invalid_field"),  # a line, not an object
    ({"candidates": []}, "invalid_field"),  # says nothing
    ({"candidates": [{"candidate": HOST}], "end": "yes"}, "invalid_field"),
    ({"candidates": [{"candidate": HOST}], "from": "alice"}, "invalid_field"),
    ({"candidate": HOST}, "invalid_field"),  # one candidate under the batch's type
    ([{"candidate": HOST}], "invalid_field"),
    (None, "invalid_field"),
    (HOST, "invalid_field"),
])
def test_a_malformed_batch_of_candidates_gets_one_error_and_reaches_nobody(harness, redis_client, keys, data, code):
    a, b, room = harness.pair(join=False)
    harness.send(a, batch(room, data))
    [error] = harness.new(a)
    assert error["event"] == "error" and error["code"] == code and "data" in error["message"]
    assert harness.new(b) == []
    assert joined(redis_client, keys) == {a: 0, b: 0}


def test_a_batch_larger_than_a_frame_is_too_large_whatever_else_is_wrong_with_it(harness):
    a, b, room = harness.pair(join=False)
    limit = harness.service.settings.max_message_bytes
    data = {"candidates": [{"candidate": "c" * 1000}] * (limit // 1000 + 1)}
    harness.send(a, batch(room, data))
    assert [e["code"] for e in harness.new(a)] == ["too_large"]
    assert harness.new(b) == []


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


def test_chat_works_without_join(harness):
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
