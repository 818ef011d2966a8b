"""$disconnect and GoneException: the departed are cleaned up, their peers are told,
and the sender of an action is never deleted because someone else is gone."""

from __future__ import annotations

from tests.support import invariants


def test_connect_records_ip_device_user_agent_and_time(harness, redis_client, keys, clock):
    a = harness.connect(ip="198.51.100.7", user_agent="TestBrowser/1.0")
    state = invariants.snapshot(redis_client, keys)
    # No identity secret here, so the connection is its own device.
    assert state["conns"][a] == {"ip": "198.51.100.7", "dev": f"c:{a}", "ua": "TestBrowser/1.0", "at": clock()}
    assert state["alive"][a] == clock() + 600_000


def test_disconnect_of_a_queued_stranger_removes_every_trace(harness, redis_client, keys):
    a = harness.connect()
    harness.send(a, {"action": "register"})
    harness.disconnect(a)
    state = invariants.check(redis_client, keys)
    assert state["queue"] == [] and a not in state["conns"] and a not in state["alive"]


def test_disconnect_in_a_room_tells_the_peer_who_becomes_idle(harness, redis_client, keys):
    a, b, room = harness.pair()
    harness.disconnect(a)
    assert harness.new(b) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    state = invariants.check(redis_client, keys)
    assert state["rooms"] == {} and state["seats"] == {} and b in state["conns"]


def test_disconnect_twice_is_harmless(harness, redis_client, keys):
    a, b, room = harness.pair()
    harness.disconnect(a)
    harness.disconnect(a)
    assert len(harness.new(b)) == 1
    invariants.check(redis_client, keys)


def test_signal_to_a_vanished_peer_cleans_it_up_and_tells_the_sender(gone_harness, gone_api, redis_client, keys):
    a, b, room = gone_harness.pair()
    gone_api.gone.add(b)
    gone_harness.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "x"}})
    assert gone_harness.new(a) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    assert gone_api.posts_to_gone == [b]
    state = invariants.check(redis_client, keys)
    assert b not in state["conns"] and b not in state["alive"]
    assert a in state["conns"] and a in state["alive"], "the sender must never be deleted"


def test_chat_to_a_vanished_peer_cleans_it_up_and_tells_the_sender(gone_harness, gone_api, redis_client, keys):
    a, b, room = gone_harness.pair()
    gone_api.gone.add(a)
    gone_harness.send(b, {"action": "chat", "room_code": room, "message": "still there?"})
    assert [e["event"] for e in gone_harness.new(b)] == ["peer-disconnected"]
    state = invariants.check(redis_client, keys)
    assert a not in state["conns"] and b in state["conns"]


def test_newcomer_is_paired_with_the_next_waiter_when_the_first_is_gone(gone_harness, gone_api, redis_client, keys, clock):
    dead, live = gone_harness.connect(), gone_harness.connect()
    gone_harness.send(dead, {"action": "register", "name": "dead"})
    invariants.seed_waiter(redis_client, keys, live, clock() + 1, "live", at=clock())  # as after a failed delivery
    gone_api.gone.add(dead)
    newcomer = gone_harness.connect()
    gone_harness.send(newcomer, {"action": "register", "name": "new"})
    [matched] = gone_harness.new(newcomer)
    assert matched["event"] == "matched" and matched["peer"] == {"name": "live"}
    assert gone_harness.new(live)[-1]["room_code"] == matched["room_code"]
    state = invariants.check(redis_client, keys)
    assert dead not in state["conns"] and list(state["rooms"]) == [matched["room_code"]]


def test_newcomer_is_queued_when_the_only_waiter_is_gone(gone_harness, gone_api, redis_client, keys):
    dead = gone_harness.connect()
    gone_harness.send(dead, {"action": "register"})
    gone_api.gone.add(dead)
    newcomer = gone_harness.connect()
    gone_harness.send(newcomer, {"action": "register"})
    assert gone_harness.new(newcomer) == [{"event": "queued", "status": "queued"}]
    state = invariants.check(redis_client, keys)
    assert state["queue"] == [newcomer] and state["rooms"] == {} and dead not in state["conns"]


def test_waiter_is_told_when_the_newcomer_vanishes_before_hearing_of_the_match(gone_harness, gone_api, redis_client, keys):
    waiter = gone_harness.connect()
    gone_harness.send(waiter, {"action": "register"})
    newcomer = gone_harness.connect()
    gone_api.gone.add(newcomer)
    gone_harness.send(newcomer, {"action": "register"})
    events = [e["event"] for e in gone_harness.new(waiter)]
    assert events == ["queued", "matched", "peer-disconnected"]
    state = invariants.check(redis_client, keys)
    assert state["rooms"] == {} and newcomer not in state["conns"]


def test_peer_of_a_disconnecting_stranger_that_is_also_gone_is_cleaned_too(gone_harness, gone_api, redis_client, keys):
    a, b, room = gone_harness.pair()
    gone_api.gone.add(b)
    gone_harness.disconnect(a)
    state = invariants.check(redis_client, keys)
    assert state["conns"] == {} and state["alive"] == {}
