"""API Gateway may deliver one frame twice; acting on it twice must be harmless."""

from __future__ import annotations

from tests.support import invariants


def test_a_duplicated_next_does_not_skip_the_stranger_it_found(harness, redis_client, keys):
    a, b, room = harness.pair()
    c = harness.connect()
    harness.send(c, {"action": "register", "name": "carol"})
    frame = harness.send(a, {"action": "next"})
    harness.redeliver(frame)
    assert [e["event"] for e in harness.new(a)] == ["matched"]
    assert [e["event"] for e in harness.new(c)] == ["queued", "matched"]
    state = invariants.check(redis_client, keys)
    assert state["seats"][a]["peer"] == c


def test_a_duplicated_chat_is_delivered_once(harness):
    a, b, room = harness.pair()
    frame = harness.send(a, {"action": "chat", "room_code": room, "message": "once"})
    harness.redeliver(frame)
    assert [e["message"] for e in harness.new(b)] == ["once"]


def test_a_duplicated_signal_is_relayed_once(harness):
    a, b, room = harness.pair()
    frame = harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "x"}})
    harness.redeliver(frame)
    assert len(harness.new(b)) == 1


def test_duplicated_register_join_and_leave_change_nothing_more(harness, redis_client, keys):
    a, b = harness.connect(), harness.connect()
    harness.redeliver(harness.send(a, {"action": "register"}))
    assert harness.new(a) == [{"event": "queued", "status": "queued"}]
    harness.send(b, {"action": "register"})
    room = harness.new(b)[0]["room_code"]
    harness.redeliver(harness.send(b, {"action": "join", "room_code": room}))
    assert [e["event"] for e in harness.new(b)] == ["verified"]
    harness.redeliver(harness.send(b, {"action": "leave"}))
    assert harness.new(b) == [{"event": "left"}]
    assert [e["event"] for e in harness.new(a)] == ["matched", "peer-disconnected"]
    invariants.check(redis_client, keys)


def test_remembered_message_ids_expire_with_the_dedup_window(harness, redis_client, keys, clock):
    a = harness.connect()
    harness.send(a, {"action": "register"})
    clock.advance(61)
    harness.send(a, {"action": "leave"})
    assert redis_client.zcard(keys.msgs) == 1
