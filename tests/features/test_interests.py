"""Interests: shared tags first, anyone after the fallback time, even when nobody new arrives."""

from __future__ import annotations

from chalicelib import sweep
from tests.support import invariants


def _register(h, cid, *tags, name=None):
    body = {"action": "register", "interests": list(tags)}
    if name:
        body["name"] = name
    h.send(cid, body)


def test_interests_are_normalised_and_stored(policy_harness, redis_client, keys):
    h = policy_harness
    a = h.connect()
    _register(h, a, "  Music ", "MUSIC", "Rock   and  Roll")
    assert invariants.snapshot(redis_client, keys)["conns"][a]["tags"] == ["music", "rock and roll"]


def test_more_than_five_or_overlong_interests_are_refused(policy_harness):
    h = policy_harness
    a = h.connect()
    _register(h, a, *[f"t{i}" for i in range(6)])
    _register(h, a, "x" * 25)
    assert [e["code"] for e in h.new(a)] == ["invalid_field", "invalid_field"]


def test_a_newcomer_is_matched_with_the_longest_waiting_stranger_sharing_a_tag(policy_harness, clock):
    h = policy_harness
    chess, music, films, newcomer = (h.connect() for _ in range(4))
    _register(h, chess, "chess")
    clock.advance(1)
    _register(h, music, "music")
    clock.advance(1)
    _register(h, films, "films")
    clock.advance(1)
    _register(h, newcomer, "Films", "MUSIC", "cats")
    [matched] = h.new(newcomer)
    assert matched["event"] == "matched" and matched["interests"] == ["music"]
    assert h.new(music)[-1]["room_code"] == matched["room_code"]
    assert h.new(chess) == [{"event": "queued", "status": "queued"}]
    assert h.new(films) == [{"event": "queued", "status": "queued"}]


def test_strangers_without_shared_tags_wait_until_the_fallback(policy_harness, redis_client, keys, clock):
    h = policy_harness
    a, b = h.connect(), h.connect()
    _register(h, a, "chess")
    clock.advance(0.001)
    _register(h, b, "music")
    assert [e["event"] for e in h.new(b)] == ["queued"]
    clock.advance(9.9)
    sweep.run(h.service, clock=clock, window_seconds=0)
    assert h.new(a) == [{"event": "queued", "status": "queued"}]
    clock.advance(0.2)
    stats = sweep.run(h.service, clock=clock, window_seconds=0)
    assert stats.paired == 1
    to_a = h.new(a)[0]
    assert to_a["event"] == "matched" and to_a["interests"] == [] and to_a["initiator"] is True
    assert invariants.check(redis_client, keys)["queue"] == []


def test_a_long_waiter_is_matched_with_a_newcomer_without_shared_tags(policy_harness, clock):
    h = policy_harness
    a, b = h.connect(), h.connect()
    _register(h, a, "chess")
    clock.advance(11)
    _register(h, b)  # no interests: takes anyone; a has waited past the fallback
    assert h.new(b)[0]["event"] == "matched"


def test_a_newcomer_with_tags_does_not_take_a_tagless_waiter_before_its_own_fallback(policy_harness, clock):
    h = policy_harness
    a, b = h.connect(), h.connect()
    _register(h, a)
    _register(h, b, "chess")
    assert h.new(b) == [{"event": "queued", "status": "queued"}]
    clock.advance(10)
    sweep.run(h.service, clock=clock, window_seconds=0)
    assert h.new(b)[0]["event"] == "matched"


def test_the_sweep_wakes_up_when_a_fallback_falls_due(policy_harness, clock):
    """Nobody new arrives: the running sweep sleeps until the fallback and then pairs them."""
    h = policy_harness
    a, b = h.connect(), h.connect()
    _register(h, a, "chess")
    _register(h, b, "music")
    now = [0.0]
    sleeps: list[float] = []
    joined: set[tuple[str, str]] = set()

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        clock.advance(seconds)
        for cid in (a, b):  # as their pages would, they join the room they were told of
            for event in h.received(cid):
                if event["event"] == "matched" and (cid, event["room_code"]) not in joined:
                    joined.add((cid, event["room_code"]))
                    h.send(cid, {"action": "join", "room_code": event["room_code"]})

    stats = sweep.run(h.service, clock=clock, window_seconds=30, sleep=fake_sleep, monotonic=lambda: now[0])
    assert stats.paired == 1
    assert 9.9 <= sleeps[0] <= 10.1, "the sweep slept until the fallback was due, not longer"
    assert [e["event"] for e in h.new(a)][-2:] == ["matched", "verified"]
