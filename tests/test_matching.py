"""register, next and leave, through the real handlers, Redis and moto's Management API."""

from __future__ import annotations

from tests.support import invariants


def test_first_stranger_is_queued_and_redis_holds_one_queue_entry(harness, redis_client, keys):
    a = harness.connect()
    harness.send(a, {"action": "register", "name": "alice"})
    assert harness.received(a) == [{"event": "queued", "status": "queued"}]
    state = invariants.check(redis_client, keys)
    assert state["queue"] == [a]
    assert state["conns"][a]["name"] == "alice"


def test_second_register_while_queued_does_not_duplicate_entry(harness, redis_client, keys):
    a = harness.connect()
    harness.send(a, {"action": "register"})
    harness.send(a, {"action": "register"})
    assert harness.received(a) == [
        {"event": "queued", "status": "queued"},
        {"event": "queued", "status": "exists"},
    ]
    assert redis_client.zrange(keys.queue, 0, -1) == [a]


def test_two_strangers_are_matched_and_both_hear_it(harness, redis_client, keys):
    a, b = harness.connect(), harness.connect()
    harness.send(a, {"action": "register", "name": "alice"})
    harness.send(b, {"action": "register", "name": "bob"})
    to_a, to_b = harness.received(a)[-1], harness.received(b)[-1]
    room = to_a["room_code"]
    assert to_a == {
        "event": "matched",
        "room_code": room,
        "initiator": True,
        "peer": {"name": "bob"},
        "interests": [],
        "ice_servers": [{"urls": ["stun:stun.l.google.com:19302"]}],
        "resume_token": to_a["resume_token"],
    }
    assert to_b == {**to_a, "initiator": False, "peer": {"name": "alice"}, "resume_token": to_b["resume_token"]}
    assert len(to_a["resume_token"]) >= 32 and to_a["resume_token"] != to_b["resume_token"]
    state = invariants.check(redis_client, keys)
    assert state["queue"] == []
    assert state["rooms"][room]["initiator"] == a and state["rooms"][room]["responder"] == b


def test_room_codes_are_long_random_and_not_built_from_names(harness):
    codes = set()
    for _ in range(5):
        a, b, room = harness.pair("alice", "bob", join=False)
        assert len(room) >= 22 and "alice" not in room and "bob" not in room
        codes.add(room)
    assert len(codes) == 5


def test_names_are_trimmed_and_default_to_stranger(harness):
    a, b = harness.connect(), harness.connect()
    harness.send(a, {"action": "register", "name": "   "})
    harness.send(b, {"action": "register", "name": "  Bob   the  Builder "})
    assert harness.received(a)[-1]["peer"] == {"name": "Bob the Builder"}
    assert harness.received(b)[-1]["peer"] == {"name": "Stranger"}


def test_the_oldest_waiting_stranger_is_matched_first(harness, redis_client, keys, clock):
    a, b, c = harness.connect(), harness.connect(), harness.connect()
    harness.send(a, {"action": "register", "name": "a"})
    # A backlog of two waiters only arises after failed deliveries; build one directly.
    clock.advance(1)
    invariants.seed_waiter(redis_client, keys, b, clock() - 5000)
    harness.send(c, {"action": "register", "name": "c"})
    assert harness.received(b)[-1]["event"] == "matched"
    assert harness.received(b)[-1]["initiator"] is True
    assert harness.received(a) == [{"event": "queued", "status": "queued"}]
    assert redis_client.zrange(keys.queue, 0, -1) == [a]


def test_register_while_in_a_room_is_refused_and_the_room_stays(harness, redis_client, keys):
    a, b, room = harness.pair()
    harness.send(a, {"action": "register"})
    assert harness.new(a) == [
        {"event": "error", "code": "in_room", "message": "You are already in a chat; send 'next' or 'leave' first.",
         "action": "register"}
    ]
    assert harness.new(b) == []
    assert room in invariants.check(redis_client, keys)["rooms"]


def test_next_ends_the_room_tells_the_peer_and_searches_again(harness, redis_client, keys):
    a, b, room = harness.pair()
    c = harness.connect()
    harness.send(c, {"action": "register", "name": "carol"})
    harness.send(a, {"action": "next"})
    assert harness.new(b) == [
        {"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}
    ]
    to_a = harness.new(a)
    assert [e["event"] for e in to_a] == ["matched"]
    assert to_a[0]["peer"] == {"name": "carol"} and to_a[0]["initiator"] is False
    state = invariants.check(redis_client, keys)
    assert room not in state["rooms"]
    assert b not in state["seats"] and b not in state["queue"]


def test_next_with_nobody_waiting_queues_the_skipper(harness, redis_client, keys):
    a, b, room = harness.pair()
    harness.send(a, {"action": "next"})
    assert harness.new(a) == [{"event": "queued", "status": "queued"}]
    assert invariants.check(redis_client, keys)["queue"] == [a]


def test_both_strangers_can_be_matched_again_after_next(harness):
    a, b, room = harness.pair()
    harness.send(a, {"action": "next"})
    harness.send(b, {"action": "register"})
    [matched] = harness.new(b)[-1:]
    assert matched["event"] == "matched" and matched["room_code"] != room


def test_leave_from_the_queue_goes_idle(harness, redis_client, keys):
    a = harness.connect()
    harness.send(a, {"action": "register"})
    harness.send(a, {"action": "leave"})
    assert harness.received(a)[-1] == {"event": "left"}
    assert invariants.check(redis_client, keys)["queue"] == []


def test_leave_from_a_room_tells_the_peer_and_both_are_idle(harness, redis_client, keys):
    a, b, room = harness.pair()
    harness.send(b, {"action": "leave"})
    assert harness.new(b) == [{"event": "left"}]
    assert harness.new(a) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    state = invariants.check(redis_client, keys)
    assert state["seats"] == {} and state["rooms"] == {} and state["queue"] == []


def test_ping_answers_pong_and_extends_the_liveness_deadline(harness, redis_client, keys, clock):
    a = harness.connect()
    before = redis_client.zscore(keys.alive, a)
    clock.advance(60)
    harness.send(a, {"action": "ping"})
    assert harness.received(a) == [{"event": "pong"}]
    assert redis_client.zscore(keys.alive, a) == before + 60_000


def test_liveness_never_extends_past_the_two_hour_cap(harness, redis_client, keys, clock):
    a = harness.connect()
    connected = clock()
    clock.advance(7200 - 30)
    harness.send(a, {"action": "ping"})
    assert redis_client.zscore(keys.alive, a) == connected + 7_200_000
