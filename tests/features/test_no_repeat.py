"""No repeat strangers: two people just paired are not paired again for a while, either way."""

from __future__ import annotations

from chalicelib import sweep


def test_the_skipper_does_not_get_the_same_stranger_back(policy_harness):
    h = policy_harness
    a, b, room = h.pair()
    h.send(a, {"action": "next"})
    h.send(b, {"action": "register"})
    assert h.new(a) == [{"event": "queued", "status": "queued"}]
    assert [e["event"] for e in h.new(b)] == ["peer-disconnected", "queued"]


def test_the_skipped_one_does_not_get_the_skipper_back_either(policy_harness):
    h = policy_harness
    a, b, room = h.pair()
    h.send(a, {"action": "next"})  # a waits
    h.send(b, {"action": "next"})  # b is idle after the skip; next registers it again
    assert [e["event"] for e in h.new(b)] == ["peer-disconnected", "queued"]


def test_someone_else_is_preferred_and_the_pair_may_meet_again_after_the_block(policy_harness, clock):
    h = policy_harness
    a, b, room = h.pair()
    c = h.connect()
    h.send(a, {"action": "next"})
    h.send(c, {"action": "register"})
    assert h.new(c)[0]["event"] == "matched"
    h.send(a, {"action": "next"})  # a leaves c; c is blocked with a for a while
    clock.advance(301)
    h.send(b, {"action": "register"})
    assert h.new(b)[-1]["event"] == "matched", "after the no-repeat period the old pair may meet again"


def test_the_only_two_waiting_past_the_fallback_are_paired_even_if_they_just_met(policy_harness, clock):
    h = policy_harness
    a, b, room = h.pair()
    h.send(a, {"action": "next"})
    h.send(b, {"action": "register"})
    h.new(a)
    h.new(b)
    clock.advance(5)
    assert sweep.run(h.service, clock=clock, window_seconds=0).paired == 0
    clock.advance(6)
    assert sweep.run(h.service, clock=clock, window_seconds=0).paired == 1
    assert h.new(a)[0]["event"] == "matched" and h.new(b)[0]["event"] == "matched"


def test_the_exception_does_not_apply_when_a_third_stranger_waits_past_the_fallback(policy_harness, clock):
    h = policy_harness
    c = h.connect()
    h.send(c, {"action": "register", "interests": ["solitude"]})
    a, b, room = h.pair()
    h.send(a, {"action": "next"})
    h.send(b, {"action": "register"})
    for cid in (a, b, c):
        h.new(cid)
    clock.advance(11)
    stats = sweep.run(h.service, clock=clock, window_seconds=0)
    assert stats.paired == 1  # c is paired with one of them, never a with b
    matched = [cid for cid in (a, b, c) if any(e["event"] == "matched" for e in h.new(cid))]
    assert c in matched and len(matched) == 2
