"""The scheduled sweep: evicts the silently vanished, ends their rooms, pairs leftover waiters."""

from __future__ import annotations

import threading

from chalicelib import sweep
from tests.support import invariants


def _sweep(harness, **kwargs):
    kwargs.setdefault("window_seconds", 0)
    return sweep.run(harness.service, clock=harness.clock, **kwargs)


def test_sweep_evicts_connections_idle_past_the_timeout_and_tells_their_peers(harness, redis_client, keys, clock):
    a, b, room = harness.pair()
    clock.advance(300)
    harness.send(b, {"action": "ping"})
    harness.new(b)
    clock.advance(301)  # a has now been silent for 601 s; b for 301 s
    stats = _sweep(harness)
    assert stats.evicted == 1 and stats.notified == 1
    assert harness.new(b) == [{"event": "peer-disconnected", "room_code": room, "message": "Stranger has disconnected"}]
    state = invariants.check(redis_client, keys)
    assert a not in state["conns"] and state["rooms"] == {} and b in state["alive"]


def test_sweep_evicts_vanished_queue_entries(harness, redis_client, keys, clock):
    a = harness.connect()
    harness.send(a, {"action": "register"})
    clock.advance(601)
    assert _sweep(harness).evicted == 1
    state = invariants.check(redis_client, keys)
    assert state["queue"] == [] and state["conns"] == {}


def test_sweep_evicts_everyone_at_the_two_hour_cap_even_if_they_ping(harness, redis_client, keys, clock):
    a = harness.connect()
    for _ in range(13):
        clock.advance(570)
        harness.send(a, {"action": "ping"})
    clock.advance(7200 - 13 * 570 + 1)
    assert _sweep(harness).evicted == 1


def test_sweep_pairs_compatible_waiters_left_in_the_queue(harness, redis_client, keys, clock):
    a, b, c = harness.connect(), harness.connect(), harness.connect()
    for since, (cid, name) in enumerate(((a, "a"), (b, "b"), (c, "c"))):
        invariants.seed_waiter(redis_client, keys, cid, since, name, at=clock())
    stats = _sweep(harness)
    assert stats.paired == 1
    to_a, to_b = harness.new(a), harness.new(b)
    assert to_a[0]["event"] == "matched" and to_a[0]["initiator"] is True and to_a[0]["peer"] == {"name": "b"}
    assert to_b[0]["room_code"] == to_a[0]["room_code"] and to_b[0]["peer"] == {"name": "a"}
    assert harness.new(c) == []
    assert invariants.check(redis_client, keys)["queue"] == [c]


def test_sweep_drops_queue_entries_of_strangers_already_gone(harness, redis_client, keys):
    invariants.seed_waiter(redis_client, keys, "ghost-1", 1)
    invariants.seed_waiter(redis_client, keys, "ghost-2", 2)
    _sweep(harness)
    assert redis_client.zrange(keys.queue, 0, -1) == []


def test_sweep_keeps_working_with_backoff_until_its_window_ends(harness, clock):
    sleeps: list[float] = []
    now = [0.0]

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    stats = _sweep(harness, window_seconds=50, sleep=fake_sleep, monotonic=lambda: now[0])
    assert sleeps[:6] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    assert max(sleeps) == 8.0 and sum(sleeps) <= 50
    assert stats.passes == len(sleeps) + 1


def test_sweep_pairs_a_waiter_that_appears_during_its_window(harness, redis_client, keys, clock):
    a, b = harness.connect(), harness.connect()
    now = [0.0]

    def fake_sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] >= 1 and not redis_client.zscore(keys.queue, a):
            invariants.seed_waiter(redis_client, keys, a, 1)
            invariants.seed_waiter(redis_client, keys, b, 2)

    stats = _sweep(harness, window_seconds=5, sleep=fake_sleep, monotonic=lambda: now[0])
    assert stats.paired == 1
    assert harness.new(a)[0]["event"] == "matched"


def test_two_sweeps_never_run_at_once(harness):
    inside = threading.Event()
    release = threading.Event()
    results = []

    def slow_sleep(seconds: float) -> None:
        inside.set()
        release.wait(5)

    first = threading.Thread(
        target=lambda: results.append(_sweep(harness, window_seconds=1, sleep=slow_sleep, monotonic=lambda: 0.0))
    )
    first.start()
    assert inside.wait(5)
    second = _sweep(harness)
    release.set()
    first.join(5)
    assert second.ran is False
    assert results[0].ran is True


def test_sweep_lock_is_released_afterwards(harness, redis_client, keys):
    _sweep(harness)
    assert redis_client.exists(keys.sweep_lock) == 0
    assert _sweep(harness).ran is True
