"""Reconnect: a dropped socket's seat is held for the grace period and can be resumed once."""

from __future__ import annotations

from chalicelib import sweep
from tests.support import invariants


def token_of(h, cid):
    return next(e for e in reversed(h.received(cid)) if e["event"] in {"matched", "resumed"})["resume_token"]


def _drop(h, cid):
    h.sender.gone.add(cid)
    h.disconnect(cid)


def test_a_dropped_stranger_is_reported_as_reconnecting_not_gone(policy_harness, redis_client, keys):
    h = policy_harness
    a, b, room = h.pair()
    _drop(h, b)
    assert h.new(a) == [{"event": "peer-reconnecting", "room_code": room,
                         "message": "Stranger lost their connection; waiting for them"}]
    state = invariants.check(redis_client, keys)
    assert room in state["rooms"] and state["seats"][b]["held"] > 0 and b not in state["conns"]


def test_resume_in_time_takes_the_old_seat_and_both_sides_can_renegotiate(policy_harness, redis_client, keys, clock):
    h = policy_harness
    a, b, room = h.pair("ann", "bo")
    token = token_of(h, b)
    _drop(h, b)
    h.new(a)
    clock.advance(10)
    b2 = h.connect()
    h.send(b2, {"action": "resume", "token": token})
    [resumed] = h.new(b2)
    assert resumed["event"] == "resumed" and resumed["room_code"] == room
    assert resumed["initiator"] is False and resumed["peer"] == {"name": "ann"}
    assert resumed["peer_reconnecting"] is False
    assert resumed["resume_token"] != token
    assert h.new(a) == [{"event": "peer-resumed", "room_code": room}]
    # The initiator restarts ICE with a new offer once the resumed side has joined.
    h.send(b2, {"action": "join", "room_code": room})
    h.send(a, {"action": "signal", "room_code": room, "type": "offer", "data": {"sdp": "ice-restart"}})
    h.send(b2, {"action": "chat", "room_code": room, "message": "back"})
    assert [e["event"] for e in h.new(b2)] == ["verified", "signal"]
    to_a = h.new(a)
    assert to_a[0]["message"] == "back" and to_a[0]["sender"] == "bo"
    state = invariants.check(redis_client, keys)
    assert state["seats"][a]["peer"] == b2 and b not in state["seats"]


def test_resume_too_late_fails_and_the_sweep_has_ended_the_chat(policy_harness, redis_client, keys, clock):
    h = policy_harness
    a, b, room = h.pair()
    token = token_of(h, b)
    _drop(h, b)
    h.new(a)
    clock.advance(15.1)
    sweep.run(h.service, clock=clock, window_seconds=0)
    assert h.new(a) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    b2 = h.connect()
    h.send(b2, {"action": "resume", "token": token})
    assert h.new(b2)[0]["code"] == "invalid_token"
    assert invariants.check(redis_client, keys)["rooms"] == {}


def test_resume_after_the_grace_period_fails_even_before_the_sweep_runs(policy_harness, clock):
    h = policy_harness
    a, b, room = h.pair()
    token = token_of(h, b)
    _drop(h, b)
    clock.advance(16)
    b2 = h.connect()
    h.send(b2, {"action": "resume", "token": token})
    assert h.new(b2)[0]["code"] == "invalid_token"


def test_the_sweep_ends_a_grace_period_on_time_with_nobody_acting(policy_harness, clock):
    h = policy_harness
    a, b, room = h.pair()
    _drop(h, b)
    h.new(a)
    now = [0.0]
    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        clock.advance(seconds)

    sweep.run(h.service, clock=clock, window_seconds=30, sleep=fake_sleep, monotonic=lambda: now[0])
    assert h.new(a) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    assert 14.9 <= sleeps[0] <= 15.1, "the sweep slept until the grace period ended"


def test_a_token_works_once(policy_harness):
    h = policy_harness
    a, b, room = h.pair()
    token = token_of(h, b)
    _drop(h, b)
    b2, b3 = h.connect(), h.connect()
    h.send(b2, {"action": "resume", "token": token})
    h.send(b3, {"action": "resume", "token": token})
    assert h.new(b2)[0]["event"] == "resumed"
    assert h.new(b3)[0]["code"] == "invalid_token"


def test_a_token_cannot_take_the_seat_of_someone_still_connected(policy_harness, redis_client, keys):
    h = policy_harness
    a, b, room = h.pair()
    token_of_b = token_of(h, b)
    thief = h.connect()
    h.send(thief, {"action": "resume", "token": token_of_b})
    assert h.new(thief)[0]["code"] == "invalid_token"
    assert h.new(a) == [] and h.new(b) == []
    assert invariants.check(redis_client, keys)["seats"][a]["peer"] == b


def test_a_foreign_or_made_up_token_is_refused(policy_harness):
    h = policy_harness
    a, b, room = h.pair()
    c, d, other = h.pair()
    token_of_c = token_of(h, c)
    _drop(h, c)
    for token in ("made-up-token", token_of_c[:-1] + "x"):
        h.send(b, {"action": "resume", "token": token})
    assert [e["code"] for e in h.new(b)] == ["in_room", "in_room"]
    e = h.connect()
    h.send(e, {"action": "resume", "token": "made-up-token"})
    assert h.new(e)[0]["code"] == "invalid_token"


def test_a_peer_that_leaves_during_the_grace_period_ends_it(policy_harness, redis_client, keys):
    h = policy_harness
    a, b, room = h.pair()
    token = token_of(h, b)
    _drop(h, b)
    h.send(a, {"action": "leave"})
    b2 = h.connect()
    h.send(b2, {"action": "resume", "token": token})
    assert h.new(b2)[0]["code"] == "invalid_token"
    state = invariants.check(redis_client, keys)
    assert state["seats"] == {} and state["rooms"] == {}


def test_messages_to_a_reconnecting_stranger_are_refused_with_a_clear_code(policy_harness):
    h = policy_harness
    a, b, room = h.pair()
    _drop(h, b)
    h.new(a)
    h.send(a, {"action": "chat", "room_code": room, "message": "hello?"})
    assert h.new(a)[0]["code"] == "peer_reconnecting"


def test_a_410_during_a_chat_also_holds_the_seat(policy_harness, redis_client, keys):
    h = policy_harness
    a, b, room = h.pair()
    h.sender.gone.add(b)  # socket gone, no $disconnect
    h.send(a, {"action": "chat", "room_code": room, "message": "hi"})
    assert [e["event"] for e in h.new(a)] == ["peer-reconnecting"]
    assert invariants.check(redis_client, keys)["seats"][b]["held"] > 0
